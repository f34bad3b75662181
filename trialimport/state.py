"""What one import knows as it goes: the files, the tables read from them, what the trial held
before, which subjects failed, and the helpers that put a refusal or a difference on a row."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models
from django.utils.translation import gettext as _

from trial.models import Participant, Site, Trial
from trial.services import BaselineError, TrialError
from trialimport.columns import Column
from trialimport.items import Catalogue
from trialimport.reading import Row, Table, read_table
from trialimport.report import ImportReport


@dataclass
class State:
    files: Mapping[str, bytes]
    actor: User
    trial: Trial | None
    report: ImportReport
    tables: dict[str, Table] = field(default_factory=dict)
    """Files read, with a usable header."""
    read_files: set[str] = field(default_factory=set)
    # What the trial holds already (empty for a new trial), read for the first pass.
    known_sites: set[str] = field(default_factory=set)
    known_arms: set[str] = field(default_factory=set)
    known_visits: set[str] = field(default_factory=set)
    known_covariates: dict[str, bool] = field(default_factory=dict)
    known_study_ids: set[str] = field(default_factory=set)
    known_withdrawals: dict[str, dt.date] = field(default_factory=dict)
    covariate_columns: list[str] = field(default_factory=list)
    items: Catalogue = field(default_factory=Catalogue)
    failed: set[str] = field(default_factory=set)
    """Study ids whose participant row failed."""
    unallocated: set[str] = field(default_factory=set)
    """Study ids whose allocation row failed."""
    # Filled while applying, under the trial's lock.
    sites: dict[str, Site] = field(default_factory=dict)
    participants: dict[str, Participant] = field(default_factory=dict)

    def read(
        self,
        name: str,
        spec: Mapping[str, Column],
        *,
        required_extra: Iterable[str] = (),
        unknown: Callable[[str], str | None] | None = None,
    ) -> Table | None:
        """Parse one file against ``spec``; None when it is absent or its header is unusable.
        Each file is read once; asking again gives the same table."""
        data = self.files.get(name)
        if data is None or name in self.read_files:
            return self.tables.get(name)
        self.read_files.add(name)
        table = read_table(
            name, data, spec, self.report, required_extra=required_extra, unknown=unknown
        )
        if table is not None:
            self.tables[name] = table
        return table

    def table_keys(self, name: str) -> set[str]:
        table = self.tables.get(name)
        return table.keys if table else set()

    def study_ids(self) -> set[str]:
        return self.known_study_ids | self.table_keys("participants.csv")

    def refused(
        self,
        name: str,
        line: int,
        error: TrialError | ValidationError,
        renames: Mapping[str, str] | None = None,
    ) -> None:
        """Put a service's refusal on the row, in the column it names."""
        renames = renames or {}
        report = self.report
        if isinstance(error, BaselineError):
            for key, message in error.errors.items():
                report.error(name, line, key, message)
        elif isinstance(error, TrialError):
            column = renames.get(error.field or "", error.field)
            report.error(name, line, column, error.message)
        elif hasattr(error, "error_dict"):
            for key, messages in error.message_dict.items():
                column = "" if key == NON_FIELD_ERRORS else renames.get(key, key)
                report.error(name, line, column, " ".join(messages))
        else:
            report.error(name, line, None, " ".join(error.messages))

    def differs(self, name: str, row: Row, subject: str, columns: dict[str, Any]) -> bool:
        """Report each column whose stored value differs; True if any does."""
        for column, stored in columns.items():
            shown = "–" if stored in (None, "") else str(stored)
            self.report.error(
                name,
                row.line,
                column,
                _("%(subject)s exists already with a different value (stored: %(value)s).")
                % {"subject": subject, "value": shown},
            )
        return bool(columns)

    def compare(
        self,
        name: str,
        row: Row,
        instance: models.Model,
        subject: str,
        columns: set[str],
        values: Mapping[str, Any] | None = None,
    ) -> None:
        """Count an existing object as unchanged, or report the columns that differ."""
        given = row.values if values is None else values
        differing = {
            column: getattr(instance, column)
            for column in sorted(columns)
            if normalise(getattr(instance, column)) != normalise(given[column])
        }
        if not self.differs(name, row, subject, differing):
            self.report.count(name, created=False)


def normalise(value: Any) -> Any:
    """Compare stored and given values alike (JSON lists of pairs, stripped text)."""
    if isinstance(value, list | tuple):
        return [normalise(item) for item in value]
    if isinstance(value, str):
        return value.strip()
    return value


def blank_none(value: Any) -> Any:
    """A stored or given answer for comparing: blanks ("" and None) alike, text stripped."""
    value = normalise(value)
    return None if value in ("", None) else value
