"""What every section of the effect report shares: the outcome names and the names shown for
covariates, levels and visits (:class:`Names`), the estimates tables and their notes, and the
prepared data of one report (:class:`Context`, :func:`prepare`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from reports.analysis import (
    clustered,
)
from reports.analysis.estimates import (
    Estimate,
    is_binary,
)
from reports.analysis.results import AnalysisPlan, EffectData, Table
from reports.analysis.text import _
from reports.registers import parse

REGISTER_MONTHS = "register_months"


"""The kind of a months-in-a-state register endpoint (see :mod:`reports.registers`)."""


OUTCOME_COLUMNS = [
    "in_paid_work",
    "hours_per_week",
    "monthly_earnings",
    "on_benefits",
    "self_rated_health",
]


def clean(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with NaN, NA and infinities replaced by ``None`` (such columns become object)."""
    result = frame.copy()
    for column in result.columns:
        values = result[column]
        missing = values.map(lambda v: v is None or (isinstance(v, float) and not math.isfinite(v)))
        missing |= values.isna()
        if missing.any():
            result[column] = values.astype(object).where(~missing, None)
    return result


BASELINE = "@baseline"


"""Suffix of the key of a variable's value at the baseline visit (``phq9_total@baseline``)."""


BINARY, COUNT, ORDINAL = "binary", "count", "ordinal"


NUMERIC = frozenset({"continuous", COUNT, ORDINAL, "score"})


def outcome_name(key: str) -> str:
    """An outcome of the built-in instrument as readers know it, e.g. "in paid work" (the
    report gets the others' labels from the trial's data dictionary, see :class:`Names`);
    the key itself for one not listed."""
    names = {
        "in_paid_work": _("in paid work"),
        "on_benefits": _("on benefits"),
        "hours_per_week": _("hours per week"),
        "monthly_earnings": _("monthly earnings (NOK)"),
        "self_rated_health": _("self-rated health (1 poor – 5 excellent)"),
    }
    return names.get(key, key)


def outcome_label(key: str) -> str:
    """An outcome as a table cell shows it, e.g. "In paid work"."""
    name = outcome_name(key)
    return name[:1].upper() + name[1:]


def capital(text: str) -> str:
    """``text`` with a capital first letter, as a table cell or a heading starts."""
    return text[:1].upper() + text[1:]


def in_sentence(label: str) -> str:
    """A label inside a sentence: a capital first letter lowered ("In paid work" → "in paid
    work"), an abbreviation kept ("PHQ-9 total score")."""
    if len(label) > 1 and label[0].isupper() and label[1].islower():
        return label[0].lower() + label[1:]
    return label


@dataclass
class Names:
    """How readers know the keys the plan and data use: baseline covariates (and subgroup
    variables), their values, and visits. A key not listed is shown as it is.

    The pipeline fills it from the trial's covariate and visit definitions; the tables' CSV
    files keep the keys.
    """

    covariates: dict[str, str] = field(default_factory=dict)
    levels: dict[str, dict[str, str]] = field(default_factory=dict)  # covariate -> value -> label
    visits: dict[str, str] = field(default_factory=dict)
    # Variables of the trial's instruments -> their labels (from the data dictionary).
    outcomes: dict[str, str] = field(default_factory=dict)

    def outcome(self, key: str) -> str:
        """A variable as readers know it inside a sentence, e.g. "in paid work"."""
        if key in self.outcomes:
            return in_sentence(self.outcomes[key])
        return outcome_name(key)

    def outcome_label(self, key: str) -> str:
        """A variable as a table cell shows it, e.g. "In paid work"."""
        name = self.outcomes.get(key) or outcome_name(key)
        return name[:1].upper() + name[1:]

    def covariate(self, key: str) -> str:
        """A covariate as readers know it; ``<name>@baseline`` (the variable at the visit 0
        months from randomisation, see :meth:`Context.baseline`) as "<label> at baseline"."""
        if key in self.covariates:
            return self.covariates[key]
        variable = key.removesuffix(BASELINE)
        if variable != key:
            return _("%(outcome)s at baseline") % {"outcome": self.outcome(variable)}
        return key

    def level(self, variable: str, value: str) -> str:
        """A subgroup level as readers know it: the choice's label, yes/no translated."""
        labels = self.levels.get(variable, {})
        if value in labels:
            return labels[value]
        return {"yes": _("yes"), "no": _("no")}.get(value, value)

    def visit(self, code: str) -> str:
        return self.visits.get(code, code)


def estimate_columns() -> dict[str, str]:
    """Display names of the :class:`Estimate` fields, in table order."""
    return {
        "comparison": _("Comparison"),
        "outcome": _("Outcome"),
        "measure": _("Measure"),
        "n_treated": _("n analysed (arm)"),
        "n_control": _("n analysed (reference)"),
        "estimate": _("Estimate"),
        "ci_low": _("95% CI lower"),
        "ci_high": _("95% CI upper"),
        "p_value": _("p-value"),
        "method": _("Method"),
        "note": _("Note"),
        "se_type": _("Standard error"),
        "reference": _("Reference distribution"),
        "covariates": _("Covariates"),
    }


# Columns of an estimates table that the PDF states in the notes under it (the CSV keeps them).
DESCRIBED = ("se_type", "reference", "covariates")


def model_notes(estimates: list[Estimate]) -> list[str]:
    """One note per model of ``estimates`` (measure and method): its covariates, standard error
    and reference distribution; then that p-values are two-sided. Estimates that could not be
    computed are left out (their reason is on their row)."""
    notes: list[str] = []
    for estimate in estimates:
        if estimate.estimate is None or not estimate.se_type:
            continue
        adjusted = (
            _("adjusted for %(covariates)s") % {"covariates": ", ".join(estimate.covariates)}
            if estimate.covariates
            else _("no covariates")
        )
        note = _(
            "%(measure)s (%(method)s): %(adjusted)s; standard error: %(se)s; reference "
            "distribution: %(reference)s."
        ) % {
            "measure": capital(estimate.measure),
            "method": estimate.method,
            "adjusted": adjusted,
            "se": estimate.se_type,
            "reference": estimate.reference,
        }
        if note not in notes:
            notes.append(note)
    if notes:
        notes.append(two_sided())
    return notes


def two_sided() -> str:
    """What every interval and p-value of the report is."""
    # xgettext:no-python-format
    return _("95% confidence intervals; p-values are two-sided.")


def estimates_table(
    key: str,
    title: str,
    rows: list[tuple[dict[str, object], Estimate]],
    notes: list[str] | None = None,
    labels: Names | None = None,
) -> Table:
    """A table with one row per estimate, extra leading columns given in each row's dict;
    outcomes are shown by their labels in ``labels``."""
    shown = (labels or Names()).outcome_label
    names = estimate_columns()
    records = [{**extra, **estimate.as_row()} for extra, estimate in rows]
    for record in records:
        record["covariates"] = "; ".join(record.get("covariates") or ()) or None  # type: ignore[arg-type]  # a tuple of names
        record["se_type"] = record.get("se_type") or None
        record["reference"] = record.get("reference") or None
    columns = [c for c in names if any(c in r for r in records)] or list(names)
    frame = pd.DataFrame(records, columns=columns).rename(columns=names)
    described = model_notes([estimate for _extra, estimate in rows])
    table = Table(
        key,
        title,
        clean(frame),
        [*(notes or []), *described],
        group=names["comparison"],
        hidden=tuple(names[c] for c in DESCRIBED if c in columns),
    )
    if "outcome" in columns:
        table.shown[names["outcome"]] = [shown(str(r.get("outcome"))) for r in records]
        table.runs = (names["outcome"],)
    return table


@dataclass
class Context:
    """Everything the section builders share, prepared once from the data and plan."""

    data: EffectData
    plan: AnalysisPlan
    seed: int
    blinded: bool
    participants: pd.DataFrame
    reference: str | None
    others: list[str]
    labels: dict[str, str]
    problems: list[str] = field(default_factory=list)
    names: Names = field(default_factory=Names)

    @property
    def arms(self) -> list[str]:
        """Every arm with participants, in the trial's order (by code), the reference wherever
        it falls: the order of every table and figure."""
        return sorted(self.labels)

    @property
    def clustered(self) -> bool:
        """A cluster-randomised or stepped-wedge trial: every interval must be cluster-aware."""
        return self.data.design in {"cluster", "stepped_wedge"}

    def period_column(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
        """``frame`` with a ``period`` column in a stepped wedge (else unchanged, None)."""
        if self.data.design != "stepped_wedge":
            return frame, None
        return frame.assign(period=self.period(frame)), "period"

    def comparisons(self) -> list[tuple[str, str]]:
        """(arm code, display name of the comparison) for each arm against the reference."""
        return [
            (
                arm,
                _("%(arm)s vs %(reference)s")
                % {"arm": self.labels[arm], "reference": self.labels[self.reference]},  # type: ignore[index]  # only built with a reference arm
            )
            for arm in self.others
        ]

    def pair(self, frame: pd.DataFrame, arm: str) -> pd.DataFrame:
        """Rows of ``arm`` and the reference arm, with ``treat`` = 1 for ``arm``."""
        subset = frame.loc[frame["arm"].isin([arm, self.reference])].copy()
        subset["treat"] = (subset["arm"] == arm).astype(int)
        return subset

    def at_visit(self, visit: str) -> pd.DataFrame:
        """Participants joined (left) to their assessment at ``visit``, plus baseline values."""
        outcomes = self.data.outcomes
        frame = self.participants
        if outcomes is None or outcomes.empty or "visit" not in outcomes.columns:
            return self.with_registers(frame.assign(**dict.fromkeys(OUTCOME_COLUMNS, np.nan)))
        present = [
            c for c in outcomes.columns if c not in {"visit", "assessed_on", "offset_months"}
        ]
        rows = outcomes.loc[outcomes["visit"] == visit, present].drop_duplicates("study_id")
        baseline = self.baseline()
        frame = frame.merge(rows, on="study_id", how="left", suffixes=("", "_outcome"))
        if baseline is not None:
            frame = frame.merge(baseline, on="study_id", how="left")
        return self.with_registers(frame)

    def with_registers(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with the plan's register endpoints (one value per participant, whatever
        the visit) joined by study id."""
        registers = self.data.registers
        if registers is None or len(registers.columns) < 2:
            return frame
        extra = [c for c in registers.columns if c == "study_id" or c not in frame.columns]
        return frame.merge(registers[extra], on="study_id", how="left")

    def is_register(self, outcome: str) -> bool:
        """Whether ``outcome`` is a register endpoint (see :mod:`reports.registers`)."""
        return parse(outcome) is not None

    def baseline(self) -> pd.DataFrame | None:
        """Every variable's value at the visit with offset 0 months (if the schedule has one),
        as ``<name>@baseline`` columns: the outcomes' own baseline values and the plan's
        baseline covariates and subgroups. Text is blank (None) where nothing was answered."""
        outcomes = self.data.outcomes
        if outcomes.empty or "offset_months" not in outcomes.columns:
            return None
        rows = outcomes.loc[outcomes["offset_months"] == 0]
        if rows.empty:
            return None
        kinds = self.data.kinds
        columns = [c for c in kinds if c in rows.columns] or [
            c for c in OUTCOME_COLUMNS if c in rows.columns
        ]
        rows = rows.drop_duplicates("study_id")[["study_id", *columns]].copy()
        for column in columns:
            if kinds.get(column) not in {None, BINARY, *NUMERIC}:
                rows[column] = rows[column].astype(object).where(rows[column] != "", None)
        return rows.rename(columns={c: f"{c}{BASELINE}" for c in columns})

    def kind(self, outcome: str) -> str:
        """The outcome's kind from the data dictionary (binary, continuous, count, ordinal,
        score); without one, binary when its observed values are, else continuous."""
        known = self.data.kinds.get(outcome)
        if known:
            return known
        outcomes = self.data.outcomes
        if outcome in {"in_paid_work", "on_benefits"} or (
            outcome in outcomes.columns and is_binary(outcomes[outcome])
        ):
            return BINARY
        return "continuous"

    def binary(self, outcome: str) -> bool:
        """Whether ``outcome`` is binary (see :meth:`kind`)."""
        return self.kind(outcome) == BINARY

    def model_covariates(self) -> list[str]:
        """The plan's covariates, without site when sites are the clusters.

        In a cluster trial site is collinear with arm, and the GEE (in a stepped wedge, with
        period effects) already accounts for sites.
        """
        if self.data.design == "individual":
            return list(self.plan.covariates)
        return [n for n in self.plan.covariates if n != "site"]

    def covariates_for(self, outcome: str, frame: pd.DataFrame) -> list[str]:
        """Model covariates, plus the outcome's baseline value if the data have one."""
        names = self.model_covariates()
        baseline = f"{outcome}{BASELINE}"
        if baseline in frame.columns and frame[baseline].notna().any() and baseline not in names:
            names.insert(0, baseline)
        return names

    def period(self, frame: pd.DataFrame) -> pd.Series:
        """Calendar quarter of randomisation (stepped-wedge period)."""
        return clustered.calendar_period(frame["randomised_on"], months=3).astype(int)


def prepare(data: EffectData, plan: AnalysisPlan, seed: int, blinded: bool) -> Context:
    """Check the participants and arms and choose the reference arm."""
    participants = data.participants.copy() if data.participants is not None else pd.DataFrame()
    problems: list[str] = []
    if participants.empty or "arm" not in participants.columns:
        problems.append(_("No randomised participants."))
        return Context(data, plan, seed, blinded, participants, None, [], {}, problems)
    participants["arm"] = participants["arm"].astype(str)
    arms = sorted(participants["arm"].unique())
    if blinded or "arm_label" not in participants.columns:
        labels = {a: a for a in arms}
    else:
        first = participants.drop_duplicates("arm").set_index("arm")["arm_label"]
        labels = {a: str(first.get(a) or a) for a in arms}
    if blinded:
        reference = arms[0]
    else:
        controls = sorted(participants.loc[participants["is_control"].astype(bool), "arm"].unique())
        reference = controls[0] if controls else arms[0]
        if not controls:
            problems.append(_("No arm is marked as control; the first arm is used as reference."))
    others = [a for a in arms if a != reference]
    if not others:
        problems.append(
            _("Only one arm has participants, so no comparison between arms can be estimated.")
        )
    return Context(data, plan, seed, blinded, participants, reference, others, labels, problems)
