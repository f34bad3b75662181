"""Adaptations of the intervention that coordinators note and correct."""
