"""Simulating a scheme over many virtual trials, as background jobs."""
