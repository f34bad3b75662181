"""Writes to job exposure matrices: import a JEM from its CSV file, choose the one in use."""

from __future__ import annotations

import hashlib

from django.contrib.auth.models import User
from django.db import transaction
from django.utils.translation import gettext as _

from occupations import jem
from occupations.models import JEMEntry, JobExposureMatrix
from trial import audit
from trial.models import Trial


class JEMImportError(Exception):
    """The file or its description is invalid; ``errors`` lists every problem with its line."""

    def __init__(self, errors: list[jem.RowError]) -> None:
        super().__init__("; ".join(f"line {e.line}: {e.message}" for e in errors))
        self.errors = errors


def import_jem(
    trial: Trial,
    *,
    content: bytes,
    name: str,
    version: str,
    source: str = "",
    licence: str = "",
    illustrative: bool = False,
    activate: bool = False,
    actor: User | None,
) -> JobExposureMatrix:
    """Check a JEM file row by row and store it for the trial, all or nothing.

    Raises JEMImportError listing every problem (line numbers; line 1 is the header): unknown
    STYRK-08 codes, a level that does not match its code, a score that is not a number,
    duplicate code and measure pairs, missing columns, and a name and version the trial has
    already. With ``activate`` the new matrix becomes the one the trial uses.
    """
    errors: list[jem.RowError] = []
    name, version = name.strip(), version.strip()
    if not name:
        errors.append(jem.RowError(0, "name", _("Give the matrix a name.")))
    if not version:
        errors.append(jem.RowError(0, "version", _("Give the matrix a version.")))
    parsed = jem.parse_csv(content)
    errors.extend(parsed.errors)
    if errors:
        raise JEMImportError(errors)
    with transaction.atomic():
        Trial.objects.select_for_update().get(pk=trial.pk)
        if JobExposureMatrix.objects.filter(trial=trial, name=name, version=version).exists():
            raise JEMImportError(
                [
                    jem.RowError(
                        0,
                        "version",
                        _("The trial has a matrix named %(name)s, version %(version)s, already.")
                        % {"name": name, "version": version},
                    )
                ]
            )
        matrix = JobExposureMatrix.objects.create(
            trial=trial,
            name=name,
            version=version,
            source=source.strip(),
            licence=licence.strip(),
            illustrative=illustrative,
            measures=parsed.measure_labels,
            file_hash=hashlib.sha256(content).hexdigest(),
            uploaded_by=actor,
        )
        JEMEntry.objects.bulk_create(
            JEMEntry(
                matrix=matrix, code=row.code, level=row.level, measure=row.measure, score=row.score
            )
            for row in parsed.entries.itertuples(index=False)
        )
        audit.record(
            "jobexposurematrix.imported",
            matrix,
            actor=actor,
            trial=trial,
            data={"after": audit.snapshot(matrix), "entries": len(parsed.entries)},
        )
        if activate:
            _activate(matrix, actor=actor)
    return matrix


def activate_jem(matrix: JobExposureMatrix, *, actor: User | None) -> JobExposureMatrix:
    """Make this matrix the one its trial uses (the previous one is kept, not in use)."""
    with transaction.atomic():
        Trial.objects.select_for_update().get(pk=matrix.trial_id)
        matrix = JobExposureMatrix.objects.select_for_update().get(pk=matrix.pk)
        _activate(matrix, actor=actor)
    return matrix


def _activate(matrix: JobExposureMatrix, *, actor: User | None) -> None:
    for previous in JobExposureMatrix.objects.filter(trial_id=matrix.trial_id, active=True):
        if previous.pk == matrix.pk:
            return
        before = audit.snapshot(previous)
        previous.active = False
        previous.save(update_fields=["active"])
        audit.record_changed(previous, before, actor=actor)
    before = audit.snapshot(matrix)
    matrix.active = True
    matrix.save(update_fields=["active"])
    audit.record_changed(matrix, before, actor=actor)


def active_matrix(trial: Trial) -> JobExposureMatrix | None:
    return JobExposureMatrix.objects.filter(trial=trial, active=True).first()
