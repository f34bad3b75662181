"""Keeping a trial's unit costs and economic settings: every write checked and audited here.

Rows of one kind, key and arm may follow each other in time but never overlap; a refusal names
the rows in conflict. A CSV import is all or nothing: every row is checked (shape, keys, overlaps
with the table and with the other rows of the file) and either all are saved or none, with an
error list by line.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from economics.models import EconomicSettings, UnitCost
from fidelity.models import Contact
from trial import audit
from trial.models import Arm, Membership, Trial
from trial.services import TrialError

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser

    User = AbstractBaseUser | AnonymousUser

CSV_COLUMNS = ["kind", "key", "arm", "amount", "price_year", "valid_from", "valid_to", "note"]
MAX_IMPORT_ROWS = 10_000


class EconomicsError(TrialError):
    """A rule about unit costs was broken; ``field`` names the input at fault, if any."""


@dataclass(frozen=True)
class Period:
    """One row's identity and validity, for the overlap check (``valid_to`` None: open)."""

    kind: str
    key: str
    arm_id: int | None
    valid_from: dt.date
    valid_to: dt.date | None
    label: str


def overlapping(a: Period, b: Period) -> bool:
    """True when two rows price the same thing on at least one common day."""
    if (a.kind, a.key, a.arm_id) != (b.kind, b.key, b.arm_id):
        return False
    a_end = a.valid_to or dt.date.max
    b_end = b.valid_to or dt.date.max
    return a.valid_from <= b_end and b.valid_from <= a_end


def describe(row: UnitCost) -> str:
    """A row as people name it: kind, key, arm code and validity (ids mean nothing to them)."""
    return str(row)


def settings_for(trial: Trial) -> EconomicSettings:
    """The trial's economic settings, created with the defaults the first time."""
    found, _created = EconomicSettings.objects.get_or_create(trial=trial)
    return found


def allowed_keys(trial: Trial, kind: str) -> set[str] | None:
    """The keys a kind accepts in this trial (None: any)."""
    if kind == UnitCost.Kind.STAFF_MINUTE:
        return set(Membership.Role.values)
    if kind == UnitCost.Kind.PARTNER_MINUTE:
        return set(Contact.Partner.values)
    if kind == UnitCost.Kind.SITE:
        return set(trial.sites.values_list("code", flat=True))
    if kind == UnitCost.Kind.PARTICIPANT:
        return {""}
    if kind in (UnitCost.Kind.BENEFIT, UnitCost.Kind.EARNINGS):
        from pathways.models import SpellState

        return set(SpellState.objects.filter(trial=trial).values_list("code", flat=True))
    return None


def _check_key(trial: Trial, kind: str, key: str, arm: Arm | None) -> None:
    keys = allowed_keys(trial, kind)
    if keys is not None and key not in keys:
        if kind == UnitCost.Kind.PARTICIPANT:
            raise EconomicsError(_("A cost per participant has no key; leave it empty."), "key")
        raise EconomicsError(
            _("“%(key)s” is not a known key for this kind; use one of: %(keys)s.")
            % {"key": key, "keys": ", ".join(sorted(keys)) or "–"},
            "key",
        )
    if arm is not None and kind not in (UnitCost.Kind.SITE, UnitCost.Kind.PARTICIPANT):
        raise EconomicsError(_("Only fixed costs belong to an arm; leave the arm empty."), "arm")


def _period(row: UnitCost) -> Period:
    return Period(row.kind, row.key, row.arm_id, row.valid_from, row.valid_to, describe(row))


def _check_overlaps(trial: Trial, rows: list[UnitCost], *, exclude: set[int]) -> list[str]:
    """Messages naming each new row that overlaps a kept row or another new row."""
    existing = [
        _period(row)
        for row in UnitCost.objects.filter(trial=trial).select_related("arm")
        if row.pk not in exclude
    ]
    problems = []
    new = [_period(row) for row in rows]
    for index, period in enumerate(new):
        for other in existing + new[:index]:
            if overlapping(period, other):
                problems.append(
                    _("%(row)s overlaps %(other)s.") % {"row": period.label, "other": other.label}
                )
    return problems


def save_unit_cost(
    trial: Trial, *, actor: User | None, unit_cost: UnitCost | None = None, **values: Any
) -> UnitCost:
    """Add a unit cost, or change one. Raises EconomicsError for an unknown key, an arm on a
    kind that has none, or a validity period overlapping another row of the same kind, key and
    arm (both rows are named). Audited; safe to repeat with the same values (an edit that
    changes nothing writes no event)."""
    with transaction.atomic():
        settings_for(trial)
        EconomicSettings.objects.select_for_update().get(trial=trial)
        arm = values.get("arm")
        if arm is not None and arm.trial_id != trial.pk:
            raise EconomicsError(_("Unknown arm."), "arm")
        if unit_cost is None:
            row = UnitCost(trial=trial, **values)
        else:
            row = UnitCost.objects.select_for_update().get(pk=unit_cost.pk, trial=trial)
            before = audit.snapshot(row)
            for name, value in values.items():
                setattr(row, name, value)
        row.key = (row.key or "").strip()
        _check_key(trial, row.kind, row.key, row.arm)
        try:
            row.full_clean(exclude=["trial"])
        except ValidationError as error:
            if "__all__" in error.message_dict:
                raise EconomicsError(error.message_dict["__all__"][0], "valid_to") from None
            raise
        problems = _check_overlaps(trial, [row], exclude={row.pk} if row.pk else set())
        if problems:
            raise EconomicsError(" ".join(problems), "valid_from")
        row.save()
        if unit_cost is None:
            audit.record_created(row, actor=actor)
        else:
            audit.record_changed(row, before, actor=actor)
    return row


def delete_unit_cost(unit_cost: UnitCost, *, actor: User | None) -> None:
    """Remove a unit cost (audited with the row as it was)."""
    with transaction.atomic():
        audit.record_deleted(unit_cost, actor=actor)
        unit_cost.delete()


@dataclass(frozen=True)
class ImportResult:
    """What an import did: rows saved, or the errors by line (then nothing was saved)."""

    saved: int
    errors: list[dict[str, Any]]


def _parse_date(raw: str, column: str, errors: list[str]) -> dt.date | None:
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        errors.append(_("%(column)s: write the date as YYYY-MM-DD.") % {"column": column})
        return None


def _parse_row(
    trial: Trial, raw: dict[str, str], arms: dict[str, Arm], problems: list[str]
) -> UnitCost | None:
    value = {k: (raw.get(k) or "").strip() for k in CSV_COLUMNS}
    kind = value["kind"]
    if kind not in UnitCost.Kind.values:
        problems.append(
            _("kind: “%(kind)s” is not one of %(kinds)s.")
            % {"kind": kind, "kinds": ", ".join(UnitCost.Kind.values)}
        )
    arm = None
    if value["arm"]:
        arm = arms.get(value["arm"])
        if arm is None:
            problems.append(_("arm: unknown arm code “%(arm)s”.") % {"arm": value["arm"]})
    try:
        amount = Decimal(value["amount"].replace(",", "."))
        if not amount.is_finite() or amount < 0:
            raise InvalidOperation
    except InvalidOperation:
        amount = None
        problems.append(_("amount: write a number of 0 or more."))
    try:
        price_year = int(value["price_year"])
        if not 1900 <= price_year <= 2200:
            raise ValueError
    except ValueError:
        price_year = None
        problems.append(_("price_year: write a year such as 2025."))
    valid_from = _parse_date(value["valid_from"], "valid_from", problems)
    if not value["valid_from"]:
        problems.append(_("valid_from: required."))
    valid_to = _parse_date(value["valid_to"], "valid_to", problems)
    if len(value["note"]) > 200:
        problems.append(_("note: at most 200 characters."))
    if problems or amount is None or price_year is None or valid_from is None:
        return None
    if valid_to is not None and valid_to < valid_from:
        problems.append(_("valid_to: before valid_from."))
        return None
    try:
        _check_key(trial, kind, value["key"], arm)
    except EconomicsError as error:
        problems.append(f"{error.field}: {error.message}")
        return None
    return UnitCost(
        trial=trial,
        kind=kind,
        key=value["key"],
        arm=arm,
        amount=amount,
        price_year=price_year,
        valid_from=valid_from,
        valid_to=valid_to,
        note=value["note"],
    )


def _read_csv(data: bytes) -> tuple[csv.DictReader[str] | None, list[dict[str, Any]]]:
    """A reader over the file with its header checked, or the errors of the whole file."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None, [{"line": None, "messages": [_("The file is not UTF-8 text.")]}]
    first = text.split("\n", 1)[0]
    reader = csv.DictReader(
        io.StringIO(text), delimiter=";" if first.count(";") > first.count(",") else ","
    )
    header = [name.strip() for name in (reader.fieldnames or [])]
    optional = ("arm", "valid_to", "note")
    missing = [name for name in CSV_COLUMNS if name not in header and name not in optional]
    if missing:
        message = _("Missing columns: %(columns)s.") % {"columns": ", ".join(missing)}
        return None, [{"line": 1, "messages": [message]}]
    reader.fieldnames = header
    return reader, []


def _overlap_errors(kept: list[Period], rows: list[tuple[int, UnitCost]]) -> list[dict[str, Any]]:
    """One error per file row overlapping a kept row or an earlier row of the file."""
    errors = []
    seen: list[tuple[int, Period]] = []
    for number, row in rows:
        period = _period(row)
        clashes = [other.label for other in kept if overlapping(period, other)]
        clashes += [
            _("line %(line)s") % {"line": line} + f" ({other.label})"
            for line, other in seen
            if overlapping(period, other)
        ]
        if clashes:
            message = _("%(row)s overlaps %(others)s.") % {
                "row": period.label,
                "others": "; ".join(clashes),
            }
            errors.append({"line": number, "messages": [message]})
        seen.append((number, period))
    return errors


def import_unit_costs(
    trial: Trial, data: bytes, *, file_name: str, actor: User | None
) -> ImportResult:
    """Add the unit costs of a CSV file (columns ``CSV_COLUMNS``; comma or semicolon).

    All or nothing: when any row has an error, or overlaps a kept row or another row of the
    file, nothing is saved and the errors are returned by line. Otherwise every row is saved
    with its own audit event plus one ``unitcost.imported`` event for the file. Importing the
    same file twice is refused the second time (its rows overlap the first import's)."""
    reader, errors = _read_csv(data)
    if reader is None:
        return ImportResult(0, errors)
    arms = {arm.code: arm for arm in trial.arms.all()}
    rows: list[tuple[int, UnitCost]] = []
    for number, raw in enumerate(reader, start=2):
        if number - 1 > MAX_IMPORT_ROWS:
            errors.append(
                {"line": number, "messages": [_("More than 10,000 rows; split the file.")]}
            )
            break
        problems: list[str] = []
        row = _parse_row(trial, raw, arms, problems)
        if row is None:
            errors.append({"line": number, "messages": problems})
        else:
            rows.append((number, row))
    with transaction.atomic():
        settings_for(trial)
        EconomicSettings.objects.select_for_update().get(trial=trial)
        kept = [_period(r) for r in UnitCost.objects.filter(trial=trial).select_related("arm")]
        errors += _overlap_errors(kept, rows)
        if not rows and not errors:
            errors.append({"line": None, "messages": [_("The file has no rows.")]})
        if errors:
            errors.sort(key=lambda e: e["line"] or 0)
            return ImportResult(0, errors)
        saved = UnitCost.objects.bulk_create([row for _line, row in rows])
        audit.record_many([audit.build("unitcost.created", row, actor=actor) for row in saved])
        audit.record(
            "unitcost.imported",
            trial,
            actor=actor,
            trial=trial,
            data={"file": file_name[:200], "rows": len(saved)},
        )
    return ImportResult(len(saved), [])


def update_settings(trial: Trial, *, actor: User | None, **values: Any) -> EconomicSettings:
    """Change the trial's economic settings (audited). Raises EconomicsError for a price index
    that is not a mapping of years to positive numbers."""
    index = values.get("price_index")
    if index is not None:
        values["price_index"] = clean_price_index(index)
    with transaction.atomic():
        settings_for(trial)
        current = EconomicSettings.objects.select_for_update().get(trial=trial)
        before = audit.snapshot(current)
        for name, value in values.items():
            setattr(current, name, value)
        current.full_clean(exclude=["trial"])
        current.save()
        audit.record_changed(current, before, actor=actor)
    return current


def clean_price_index(index: Any) -> dict[str, float]:
    """``{"2024": 131.8, ...}`` with four-digit years and positive values, or EconomicsError."""
    if not isinstance(index, dict):
        raise EconomicsError(_('Write the price index as {"year": value, ...}.'), "price_index")
    cleaned: dict[str, float] = {}
    for year, value in index.items():
        if not (isinstance(year, str) and year.isdigit() and len(year) == 4):
            raise EconomicsError(
                _("“%(year)s” is not a year.") % {"year": str(year)[:20]}, "price_index"
            )
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise EconomicsError(
                _("The index of %(year)s must be a positive number.") % {"year": year},
                "price_index",
            )
        cleaned[year] = float(value)
    return dict(sorted(cleaned.items()))
