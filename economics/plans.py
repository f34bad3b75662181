"""Unit costs versioned with the analysis plan.

When a plan is locked, the unit-cost rows in force and the economic settings are copied into a
:class:`~economics.models.PlanUnitCosts` row with the SHA-256 of the rows' canonical JSON
(:func:`freeze_for_plan`, called by ``reports.services.lock_plan`` in its transaction). A report
on a locked plan analyses with those rows and settings, prints both hashes, and lists the rows
added or removed since the lock (:func:`table_changes`); an edit shows as one removed and one
added row. The note column is not part of the canonical row: it does not change a figure.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from economics.models import EconomicSettings, PlanUnitCosts, UnitCost
from economics.services import settings_for
from trial import audit
from trial.models import Trial

if TYPE_CHECKING:
    from reports.models import AnalysisPlan

ROW_KEYS = ("kind", "key", "arm", "amount", "price_year", "valid_from", "valid_to")
SETTING_KEYS = (
    "currency",
    "price_year",
    "price_index",
    "horizon_months",
    "discount_rate",
    "work_states",
    "wtp_max",
    "replicates",
    "effect",
    "earnings",
)


def canonical_rows(trial: Trial) -> list[dict[str, Any]]:
    """The trial's unit costs as plain, sorted rows: amounts with four decimals, dates ISO."""
    rows = [
        {
            "kind": row.kind,
            "key": row.key,
            "arm": row.arm.code if row.arm else "",
            "amount": f"{row.amount:.4f}",
            "price_year": int(row.price_year),
            "valid_from": row.valid_from.isoformat(),
            "valid_to": row.valid_to.isoformat() if row.valid_to else None,
        }
        for row in UnitCost.objects.filter(trial=trial).select_related("arm")
    ]
    return sorted(rows, key=_sort_key)


def _sort_key(row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(row[k] or "") for k in ROW_KEYS)


def table_hash(rows: list[dict[str, Any]]) -> str:
    """SHA-256 of the canonical JSON of the rows (sorted keys, no spaces)."""
    text = json.dumps(rows, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def settings_snapshot(current: EconomicSettings) -> dict[str, Any]:
    out = {name: getattr(current, name) for name in SETTING_KEYS}
    out["discount_rate"] = str(current.discount_rate)
    return out


def freeze_for_plan(plan: AnalysisPlan, *, actor: Any) -> PlanUnitCosts:
    """Copy the unit costs and economic settings in force into the plan being locked, with the
    table's hash. Call inside the lock's transaction; audited as ``economics.frozen``. Safe to
    repeat: a plan already frozen keeps its first copy."""
    found = PlanUnitCosts.objects.filter(plan=plan).first()
    if found is not None:
        return found
    rows = canonical_rows(plan.trial)
    frozen = PlanUnitCosts.objects.create(
        plan=plan,
        rows=rows,
        settings=settings_snapshot(settings_for(plan.trial)),
        table_hash=table_hash(rows),
    )
    audit.record(
        "economics.frozen",
        plan,
        actor=actor,
        trial=plan.trial,
        data={"table_hash": frozen.table_hash, "rows": len(rows)},
    )
    return frozen


def frozen_for(trial: Trial) -> PlanUnitCosts | None:
    """The unit costs frozen with the trial's locked plan (None: no locked plan, or one locked
    before unit costs were versioned)."""
    return (
        PlanUnitCosts.objects.filter(plan__trial=trial, plan__status="locked")
        .select_related("plan")
        .first()
    )


def rows_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Canonical rows as the rate frame ``economics.costs`` reads."""
    columns = ["kind", "key", "arm", "amount", "price_year", "valid_from", "valid_to"]
    frame = pd.DataFrame.from_records(rows, columns=columns)
    frame["arm"] = frame["arm"].fillna("")
    frame["amount"] = frame["amount"].astype(float)
    for name in ("valid_from", "valid_to"):
        frame[name] = pd.to_datetime(frame[name]).dt.date
        frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


def row_label(row: dict[str, Any]) -> str:
    """A canonical row as people name it (as ``str(UnitCost)``), with its amount and year."""
    key = row["key"] or "–"
    arm = f" [{row['arm']}]" if row["arm"] else ""
    until = row["valid_to"] or "…"
    return (
        f"{row['kind']} {key}{arm} {row['valid_from']}–{until}: "
        f"{row['amount']} ({row['price_year']})"
    )


@dataclass(frozen=True)
class Changes:
    removed: list[dict[str, Any]]  # in the frozen table, no longer in the live one
    added: list[dict[str, Any]]  # in the live table, not in the frozen one

    @property
    def changed(self) -> bool:
        return bool(self.removed or self.added)


def table_changes(frozen: list[dict[str, Any]], live: list[dict[str, Any]]) -> Changes:
    """Rows removed from and added to the table since it was frozen (an edit is both)."""

    def key(row: dict[str, Any]) -> str:
        return json.dumps(row, sort_keys=True)

    before = {key(r): r for r in frozen}
    after = {key(r): r for r in live}
    return Changes(
        removed=sorted((r for k, r in before.items() if k not in after), key=_sort_key),
        added=sorted((r for k, r in after.items() if k not in before), key=_sort_key),
    )
