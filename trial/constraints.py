"""Database constraints that several apps' models declare alike."""

from __future__ import annotations

from django.db import models


def unique_where_set(*fields: str, when: str, name: str) -> models.UniqueConstraint:
    """``fields`` unique together among the rows where the column ``when`` is set; rows
    without it repeat freely (e.g. an optional client id that makes a resubmission count once)."""
    return models.UniqueConstraint(
        fields=list(fields), condition=models.Q(**{f"{when}__isnull": False}), name=name
    )


def has_unit(name: str) -> models.CheckConstraint:
    """The row is about a participant or a site (the unit of a cluster trial), or both."""
    return models.CheckConstraint(
        condition=models.Q(participant__isnull=False) | models.Q(site__isnull=False), name=name
    )
