"""Effect evaluation: the sections of the effect report, built from the functions in this package.

:func:`effect_sections` is the entry point the report pipeline calls. Each section is built on
its own; whatever cannot be estimated (no data for an outcome, an empty arm, separation, one
cluster per arm, …) is explained in that section's ``problems`` and the other sections go on.
The function never raises for bad data and never puts NaN in a table.

Arms: every non-reference arm is compared with the reference arm. The reference is the control
arm (``is_control``); when ``blinded`` is true, arms are shown by code, the reference is the
first code in sort order (so the direction of comparison reveals nothing), and the
contamination/CACE section is withheld because it needs to know which arm is the control.
Every table and figure lists the arms in the trial's order (by code, as the set-up and the
participant flow list them), whichever is the reference, so an arm keeps its place and its
colour throughout the report.

Cluster and stepped-wedge trials get cluster-aware inference in every section (see
:mod:`reports.analysis.clustered`); no section prints an interval that ignores clustering, and
where no valid interval exists (too few clusters) the section says so and prints none. Every
estimates table states, under it, each model's covariates, standard error, reference
distribution, and that p-values are two-sided.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from reports.analysis import (
    clustered,
    compliance,
    figures,
    missing,
    ordinal_count,
    repeated,
    subgroups,
    survival,
)
from reports.analysis.estimates import (
    Estimate,
    ancova_hc3,
    binary_itt,
    finite,
    is_binary,
    logistic_adjusted,
    means_by_arm,
    proportions_by_arm,
    welch_difference,
)
from reports.analysis.results import AnalysisPlan, EffectData, Figure, Section, Table
from reports.analysis.text import _, number
from reports.registers import is_time_to_event, parse

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


def effect_sections(
    data: EffectData,
    plan: AnalysisPlan,
    seed: int,
    blinded: bool,
    names: Names | None = None,
) -> list[Section]:
    """Return the effect-evaluation sections for ``data`` under ``plan``.

    Sections: primary outcome, secondary outcomes, outcomes over visits, time to first paid
    work, contamination and non-compliance, missing outcomes, subgroups. ``blinded=True`` shows
    arms by code. ``seed`` makes multiple imputation reproducible. ``names`` gives the labels
    the PDF shows for covariates, their values and visits (the keys without it). Never raises
    for bad data: what cannot be estimated is reported in each section's ``problems``.

    BLAS runs single-threaded here: the models fit tall, narrow matrices that gain nothing from
    threads, and on a busy machine (a Celery worker beside others) oversubscribed BLAS threads
    made each fit about 20 times slower.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _effect_sections(data, plan, seed, blinded, names or Names())


def _effect_sections(
    data: EffectData, plan: AnalysisPlan, seed: int, blinded: bool, names: Names
) -> list[Section]:
    builders: list[tuple[str, Callable[[], str], Callable[[Context], Section]]] = [
        ("primary", lambda: _("Primary outcome"), primary_section),
        ("secondary", lambda: _("Secondary outcomes"), secondary_section),
        ("over_visits", lambda: _("Outcomes over follow-up visits"), over_visits_section),
        ("repeated", lambda: _("Repeated measures"), repeated_section),
        ("time_to_work", lambda: _("Time to first paid work"), time_to_work_section),
        ("compliance", lambda: _("Contamination and non-compliance"), compliance_section),
        ("missing", lambda: _("Missing outcomes"), missing_section),
        ("subgroups", lambda: _("Subgroup analyses"), subgroup_section),
    ]
    try:
        context = prepare(data, plan, seed, blinded)
        context.names = dataclasses.replace(names, outcomes={**data.labels, **names.outcomes})
    except Exception as error:
        return [
            Section(
                k, t(), problems=[_("The data could not be read: %(error)s") % {"error": error}]
            )
            for k, t, _b in builders
        ]
    sections = []
    for key, title, build in builders:
        if context.problems and (context.reference is None or not context.others):
            sections.append(Section(key, title(), problems=list(context.problems)))
            continue
        try:
            section = build(context)
        except Exception as error:  # a bug or data we did not foresee must not sink the report
            section = Section(
                key,
                title(),
                problems=[_("This section could not be computed: %(error)s") % {"error": error}],
            )
        if key == "primary":
            section.problems[:0] = context.problems
        sections.append(section)
    return sections


# --- primary and secondary outcomes ------------------------------------------------------------


def outcome_problem(context: Context, outcome: str, frame: pd.DataFrame) -> str | None:
    """Why ``outcome`` cannot be analysed at the plan's time point, or None."""
    if is_time_to_event(outcome):
        return _(
            "%(outcome)s is a time to event; this section analyses outcomes with one value per "
            "participant, so it leaves it out (the hazard ratio is in the section on the "
            "outcome itself)."
        ) % {"outcome": capital(context.names.outcome(outcome))}
    if context.is_register(outcome):
        if outcome not in frame.columns:
            return _(
                "The plan names the register endpoint %(outcome)s, but it could not be "
                "computed: the trial has no such register state."
            ) % {"outcome": context.names.outcome(outcome)}
        if frame[outcome].notna().sum() == 0:
            return _(
                "No participant's register follow-up covers %(outcome)s by the data cut-off."
            ) % {"outcome": context.names.outcome(outcome)}
        return None
    if outcome not in context.data.outcomes.columns or outcome not in frame.columns:
        return _("The plan names outcome %(outcome)s, but the data have no such outcome.") % {
            "outcome": context.names.outcome(outcome)
        }
    if frame[outcome].notna().sum() == 0:
        return _("No participant has a value for %(outcome)s at visit %(visit)s.") % {
            "outcome": context.names.outcome(outcome),
            "visit": context.names.visit(context.plan.time_point),
        }
    return None


def effect_rows(
    context: Context, frame: pd.DataFrame, outcome: str, full: bool
) -> list[tuple[dict[str, object], Estimate]]:
    """Estimates of the effect on ``outcome`` for every comparison, by the design's methods.

    Individual randomisation, by the outcome's kind: RD/RR/OR and adjusted OR (binary;
    ``full=False`` keeps only the RD of the unadjusted three); Welch and ANCOVA (continuous
    and score); those and a rate ratio from Poisson regression with robust SE (count); those
    and a proportional-odds odds ratio (ordinal). Cluster and stepped wedge: GEE, unadjusted
    and adjusted (binary as odds ratio, every other kind as difference in means).
    """
    kind = context.kind(outcome)
    binary = kind == BINARY
    covariates = context.covariates_for(outcome, frame)
    label = context.names.covariate
    design = context.data.design
    rows: list[tuple[dict[str, object], Estimate]] = []
    for arm, name in context.comparisons():
        pair = context.pair(frame, arm)
        extra: dict[str, object] = {"comparison": name, "outcome": outcome}
        pair = pair.loc[pair[outcome].notna()]
        if design in {"cluster", "stepped_wedge"} and kind == REGISTER_MONTHS:
            rows.extend((extra, e) for e in register_months_cluster(context, pair, outcome))
            continue
        if design in {"cluster", "stepped_wedge"}:
            period = None
            if design == "stepped_wedge":
                pair = pair.assign(period=context.period(pair))
                period = "period"
            model_covariates = [c for c in covariates if c != "site"]
            rows.append(
                (extra, clustered.gee_effect(pair, outcome, "site", [], binary, period=period))
            )
            if model_covariates:
                adjusted = clustered.gee_effect(
                    pair, outcome, "site", model_covariates, binary, period=period, label=label
                )
                adjusted.measure = _("adjusted %(measure)s") % {"measure": adjusted.measure}
                rows.append((extra, adjusted))
            continue
        if binary:
            itt = binary_itt(pair, outcome)
            rows.extend((extra, e) for e in (itt if full else itt[:1]))
            if covariates:
                rows.append((extra, logistic_adjusted(pair, outcome, covariates, label=label)))
        else:
            rows.append(
                (
                    extra,
                    welch_difference(
                        pair.loc[pair["treat"] == 1, outcome], pair.loc[pair["treat"] == 0, outcome]
                    ),
                )
            )
            if covariates:
                rows.append((extra, ancova_hc3(pair, outcome, covariates, label=label)))
            if kind == COUNT:
                rows.append(
                    (extra, ordinal_count.rate_ratio(pair, outcome, covariates, label=label))
                )
            elif kind == ORDINAL:
                rows.append(
                    (extra, ordinal_count.proportional_odds(pair, outcome, covariates, label=label))
                )
    return rows


def register_months_cluster(context: Context, pair: pd.DataFrame, outcome: str) -> list[Estimate]:
    """Months in a state in a cluster or stepped-wedge trial: difference in means by least
    squares with the CR2 covariance and a t(K − 2) reference, unadjusted and adjusted (period
    fixed effects in a stepped wedge)."""
    pair, period = context.period_column(pair)
    method = _("least squares, CR2 cluster-robust SE")
    out = [
        clustered.cluster_difference(
            pair, outcome, "site", _("difference in mean months"), method, period=period
        )
    ]
    covariates = [c for c in context.covariates_for(outcome, pair) if c != "site"]
    if covariates:
        out.append(
            clustered.cluster_difference(
                pair,
                outcome,
                "site",
                _("adjusted difference in mean months"),
                method,
                covariates=covariates,
                period=period,
                label=context.names.covariate,
            )
        )
    return out


def register_notes(context: Context, outcomes: list[str]) -> list[str]:
    """How the register endpoints among ``outcomes`` are defined and modelled."""
    kinds = {context.kind(o) for o in outcomes if context.is_register(o)}
    notes = []
    if REGISTER_MONTHS in kinds:
        notes.append(
            _(
                "Months in a state: months of the window whose monthly register state (the "
                "trial's month rule) is that state; missing where the window was not wholly "
                "observed by the cut-off."
            )
        )
        if context.clustered:
            notes.append(
                _(
                    "Months in a state: least squares with the CR2 cluster-robust covariance "
                    "(Bell & McCaffrey) and a t reference with K − 2 degrees of freedom."
                )
            )
        else:
            notes.append(
                _(
                    "Months in a state: Welch difference in means and, with covariates, ANCOVA "
                    "with HC3 robust standard errors."
                )
            )
    if BINARY in kinds:
        notes.append(
            _(
                "In a state in month m: the monthly register state of follow-up month m (1 is "
                "the month of randomisation)."
            )
        )
    return notes


def kind_notes(context: Context, outcomes: list[str]) -> list[str]:
    """Notes on the count and ordinal models, when ``outcomes`` have such kinds (individual
    randomisation: cluster designs fit GEE only)."""
    if context.data.design != "individual":
        return []
    kinds = {context.kind(o) for o in outcomes}
    notes = []
    if COUNT in kinds:
        notes.append(
            _(
                "Rate ratio: ratio of mean counts from Poisson regression (log link) with "
                "robust (sandwich) standard errors, valid when counts are overdispersed; "
                "Wald 95% CI on the log scale."
            )
        )
    if ORDINAL in kinds:
        notes.append(
            _(
                "Ordinal outcomes: the differences in means treat the codes as equally spaced "
                "numbers; the proportional-odds odds ratio (ordered logistic regression) is the "
                "common odds of a higher category, assuming the same odds ratio at every "
                "cut-point; Wald 95% CI on the log scale."
            )
        )
    return notes


def descriptive_table(context: Context, frame: pd.DataFrame, outcome: str, key: str) -> Table:
    """Proportions (binary) or means (continuous) of ``outcome`` by arm, in the trial's arm
    order. A proportion's 95% CI is Wilson's, or in a cluster trial CR2 cluster-robust with a
    t(K − 1) reference over the arm's K clusters (none with fewer than two)."""
    if context.binary(outcome):
        table = proportions_by_arm(frame.astype({outcome: float}), outcome)
        if context.clustered:
            table = cluster_proportions(frame, outcome, table)
        names = {
            "arm": _("Arm"),
            "n": _("n analysed"),
            "events": _("Events"),
            "proportion": _("Proportion"),
            "ci_low": _("95% CI lower"),
            "ci_high": _("95% CI upper"),
        }
        note = [_("Confidence intervals for proportions: Wilson score.")]
        if context.clustered:
            note = [
                _(
                    "Confidence intervals for proportions: CR2 cluster-robust standard error, "
                    "t reference with (clusters in the arm − 1) degrees of freedom, limited to "
                    "0–1; none for an arm with fewer than two clusters."
                )
            ]
    else:
        table = means_by_arm(frame, outcome)
        names = {"arm": _("Arm"), "n": _("n analysed"), "mean": _("Mean"), "sd": _("SD")}
        note = []
    table = table.set_index("arm").reindex([a for a in context.arms if a in set(table["arm"])])
    table = table.reset_index()
    table["arm"] = table["arm"].map(context.labels)
    title = _("%(outcome)s at %(visit)s by arm") % {
        "outcome": context.names.outcome(outcome),
        "visit": context.names.visit(context.plan.time_point),
    }
    if context.is_register(outcome):
        title = _("%(outcome)s by arm") % {"outcome": context.names.outcome(outcome)}
    title = title[:1].upper() + title[1:]
    return Table(key, title, clean(table.rename(columns=names)), note)


def cluster_proportions(frame: pd.DataFrame, outcome: str, table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (from :func:`proportions_by_arm`) with cluster-robust CIs (see
    :func:`descriptive_table`)."""
    table = table.copy()
    for index, code in table["arm"].items():
        rows = frame.loc[frame["arm"] == code]
        result = clustered.cluster_mean(rows[outcome].astype(float), rows["site"], bounds=(0, 1))
        table.loc[index, ["ci_low", "ci_high"]] = [result.ci_low, result.ci_high]
    return table


def estimate_problems(rows: list[tuple[dict[str, object], Estimate]]) -> list[str]:
    """Problems for estimates that are ``None``: measure, comparison and reason."""
    return [
        _("%(measure)s (%(comparison)s) not estimated: %(why)s")
        % {"measure": e.measure, "comparison": extra.get("comparison", ""), "why": e.note or ""}
        for extra, e in rows
        if e.estimate is None
    ]


def primary_section(context: Context) -> Section:
    """Primary outcome at the primary time point: descriptives, effect estimates, ICC."""
    plan = context.plan
    section = Section("primary", _("Primary outcome"))
    if is_time_to_event(plan.primary_outcome):
        section.text.append(
            _("Intention-to-treat analysis of %(outcome)s from the register spells.")
            % {"outcome": context.names.outcome(plan.primary_outcome)}
        )
        return register_time_section(context, section, plan.primary_outcome, "primary")
    frame = context.at_visit(plan.time_point)
    problem = outcome_problem(context, plan.primary_outcome, frame)
    if problem:
        section.problems.append(problem)
        return section
    outcome = plan.primary_outcome
    section.text.append(
        _(
            "Intention-to-treat analysis of %(outcome)s at %(visit)s: participants analysed in the "
            "arm they were randomised to, complete case (multiple imputation is in the section on "
            "missing outcomes)."
        )
        % {"outcome": context.names.outcome(outcome), "visit": context.names.visit(plan.time_point)}
        if not context.is_register(outcome)
        else _(
            "Intention-to-treat analysis of %(outcome)s from the register spells: participants "
            "analysed in the arm they were randomised to."
        )
        % {"outcome": context.names.outcome(outcome)}
    )
    section.tables.append(descriptive_table(context, frame, outcome, "primary_by_arm"))
    rows = effect_rows(context, frame, outcome, full=True)
    if context.binary(outcome):
        notes = [
            _("Risk difference: Wald 95% CI. Risk and odds ratios: Wald 95% CI on the log scale.")
        ]
    else:
        notes = kind_notes(context, [outcome])
    if context.data.design != "individual" and context.kind(outcome) == REGISTER_MONTHS:
        notes = []
        if context.data.design == "stepped_wedge":
            notes.append(
                _("Stepped wedge: period (calendar quarter of randomisation) as fixed effects.")
            )
    elif context.data.design != "individual":
        notes = [
            _(
                "GEE with exchangeable working correlation within sites and the Mancl–DeRouen "
                "bias-reduced sandwich covariance; t reference with K − 2 degrees of freedom."
            )
        ]
        if context.data.design == "stepped_wedge":
            notes.append(
                _("Stepped wedge: period (calendar quarter of randomisation) as fixed effects.")
            )
    notes = [*register_notes(context, [outcome]), *notes]
    section.tables.append(
        estimates_table(
            "primary_effect", _("Effect on the primary outcome"), rows, notes, context.names
        )
    )
    section.problems.extend(estimate_problems(rows))
    if context.data.design != "individual":
        section.tables.append(icc_table(context, frame, outcome))
    return section


def icc_table(context: Context, frame: pd.DataFrame, outcome: str) -> Table:
    """ICC of ``outcome`` within sites (arm-centred values, pooled) and the design effect."""
    data = frame.loc[frame[outcome].notna()].copy()
    values = data[outcome].astype(float)
    # Centre on the arm mean so that the arm effect does not inflate the between-site variance.
    centred = values - data.groupby("arm")[outcome].transform(lambda s: s.astype(float).mean())
    icc = clustered.icc_anova(centred, data["site"])
    sizes = data.groupby("site").size()
    cv = clustered.cluster_sizes_cv(sizes)
    frame_out = pd.DataFrame(
        [
            {
                _("Outcome"): outcome,
                _("Clusters"): icc.clusters,
                _("Participants"): icc.n,
                _("Mean cluster size"): icc.mean_size,
                _("CV of cluster size"): cv,
                _("ICC (ANOVA)"): icc.icc,
                _("Design effect"): clustered.design_effect(icc.mean_size, icc.icc, cv),
            }
        ]
    )
    notes = [
        _(
            "ICC by the one-way ANOVA estimator on arm-centred values; design effect "
            "1 + ((CV² + 1)m − 1)·ICC (Eldridge et al. 2006), a negative ICC counted as 0."
        )
    ]
    if icc.icc is None:
        notes.append(_("The ICC could not be estimated: fewer than two clusters with data."))
    table = Table("primary_icc", _("Intracluster correlation"), clean(frame_out), notes)
    table.shown[_("Outcome")] = [context.names.outcome_label(outcome)]
    return table


def secondary_section(context: Context) -> Section:
    """Each secondary outcome at the primary time point."""
    plan = context.plan
    section = Section("secondary", _("Secondary outcomes"))
    if not plan.secondary_outcomes:
        section.text.append(_("The analysis plan names no secondary outcomes."))
        return section
    frame = context.at_visit(plan.time_point)
    rows: list[tuple[dict[str, object], Estimate]] = []
    for outcome in plan.secondary_outcomes:
        if is_time_to_event(outcome):
            rows.extend(register_hazard_rows(context, outcome, section))
            continue
        problem = outcome_problem(context, outcome, frame)
        if problem:
            section.problems.append(problem)
            continue
        rows.extend(effect_rows(context, frame, outcome, full=False))
    if rows:
        section.tables.append(
            estimates_table(
                "secondary_effects",
                _("Effects on secondary outcomes at %(visit)s")
                % {"visit": context.names.visit(plan.time_point)},
                rows,
                [
                    _(
                        "Secondary outcomes are not adjusted for multiplicity; "
                        "read them as supportive."
                    ),
                    *kind_notes(context, plan.secondary_outcomes),
                    *register_notes(context, plan.secondary_outcomes),
                    *(
                        [
                            _(
                                "Time to the first spell of a register state: Cox regression "
                                "on register dates (the Kaplan–Meier curves of time to first "
                                "paid work are in their own section)."
                            )
                        ]
                        if any(is_time_to_event(o) for o in plan.secondary_outcomes)
                        else []
                    ),
                ],
                context.names,
            )
        )
        section.problems.extend(estimate_problems(rows))
    return section


def register_hazard_rows(
    context: Context, outcome: str, section: Section
) -> list[tuple[dict[str, object], Estimate]]:
    """Cox hazard ratios (unadjusted and adjusted; cluster-robust in cluster designs) of a
    time-to-first register endpoint, for the secondary outcomes' table."""
    times = context.data.register_times.get(outcome)
    if times is None or times.empty:
        section.problems.append(
            _("No register times for %(outcome)s.") % {"outcome": context.names.outcome(outcome)}
        )
        return []
    frame = context.participants.merge(times[["study_id", "months", "event"]], on="study_id")
    frame["event"] = frame["event"].fillna(False).astype(bool)
    frame, period = context.period_column(frame)
    cluster = "site" if context.clustered else None
    covariates = [c for c in context.model_covariates() if c in frame.columns]
    rows: list[tuple[dict[str, object], Estimate]] = []
    for arm, name in context.comparisons():
        pair = context.pair(frame, arm)
        extra: dict[str, object] = {"comparison": name, "outcome": outcome}
        rows.append((extra, survival.cox_hazard_ratio(pair, [], cluster=cluster, strata=period)))
        if covariates:
            adjusted = survival.cox_hazard_ratio(
                pair, covariates, cluster=cluster, strata=period, label=context.names.covariate
            )
            adjusted.measure = _("adjusted %(measure)s") % {"measure": adjusted.measure}
            rows.append((extra, adjusted))
    return rows


def over_visits_section(context: Context) -> Section:
    """The primary outcome at every visit, by arm, as a table and a line figure."""
    outcome = context.plan.primary_outcome
    section = Section("over_visits", _("Outcomes over follow-up visits"))
    if context.is_register(outcome):
        section.text.append(
            _(
                "The primary outcome comes from the registers, not from the follow-up visits; "
                "the pathways report shows the monthly register states by arm."
            )
        )
        return section
    outcomes = context.data.outcomes
    if outcomes.empty or outcome not in outcomes.columns or outcomes[outcome].notna().sum() == 0:
        section.problems.append(
            _("No values of %(outcome)s at any visit.")
            % {"outcome": context.names.outcome(outcome)}
        )
        return section
    binary = context.binary(outcome)
    merged = outcomes.loc[
        outcomes[outcome].notna(), ["study_id", "visit", "offset_months", outcome]
    ].merge(context.participants[["study_id", "arm"]], on="study_id")
    merged[outcome] = merged[outcome].astype(float)
    visits = merged.drop_duplicates("visit").sort_values("offset_months")[
        ["visit", "offset_months"]
    ]
    records, series = [], {}
    for arm in context.arms:
        points = []
        for visit in visits.itertuples(index=False):
            values = merged.loc[(merged["arm"] == arm) & (merged["visit"] == visit.visit), outcome]
            value = finite(values.mean()) if len(values) else None
            points.append((float(visit.offset_months), value))
            records.append(
                {
                    _("Visit"): visit.visit,
                    _("Months from randomisation"): visit.offset_months,
                    _("Arm"): context.labels[arm],
                    _("n analysed"): len(values),
                    (_("Proportion") if binary else _("Mean")): value,
                }
            )
        series[context.labels[arm]] = points
    title = _("%(outcome)s by arm over visits") % {"outcome": context.names.outcome(outcome)}
    title = title[:1].upper() + title[1:]
    table = Table("over_visits", title, clean(pd.DataFrame(records)), group=_("Arm"))
    table.shown[_("Visit")] = [context.names.visit(str(r[_("Visit")])) for r in records]
    svg = figures.over_visits_svg(
        series, _("Months from randomisation"), _("Proportion") if binary else _("Mean"), binary
    )
    section.tables.append(table)
    section.figures.append(Figure("over_visits_figure", title, svg, table))
    section.text.append(_("Observed values at each visit (participants assessed at that visit)."))
    return section


def repeated_outcome(context: Context) -> str | None:
    """The outcome the repeated-measures model analyses: the primary outcome when it is measured
    at the follow-up visits, else the first secondary outcome that is (a register primary
    outcome has one value per participant); None when the plan names none."""
    outcomes = context.data.outcomes
    for outcome in [context.plan.primary_outcome, *context.plan.secondary_outcomes]:
        if not context.is_register(outcome) and outcome in outcomes.columns:
            return outcome
    return None


def repeated_section(context: Context) -> Section:
    """An outcome at every follow-up visit in one GEE model (see :func:`repeated_outcome`):
    the arm effect at each visit and overall (their average), with an exchangeable and
    (individual randomisation) an AR(1) working correlation, stated in the table (see
    :mod:`reports.analysis.repeated`)."""
    section = Section("repeated", _("Repeated measures"))
    outcomes = context.data.outcomes
    outcome = repeated_outcome(context)
    if outcome is None:
        section.text.append(
            _(
                "The plan names no outcome measured at the follow-up visits, so there is no "
                "repeated-measures model."
            )
        )
        return section
    if outcome != context.plan.primary_outcome:
        section.text.append(
            _(
                "The primary outcome comes from the registers; the repeated-measures model "
                "analyses the plan's first secondary outcome measured at the visits, "
                "%(outcome)s."
            )
            % {"outcome": context.names.outcome(outcome)}
        )
    follow_up = outcomes.loc[(outcomes["offset_months"] > 0) & outcomes[outcome].notna()]
    visits = list(
        follow_up.drop_duplicates("visit").sort_values("offset_months")["visit"].astype(str)
    )
    if len(visits) < 2:
        section.problems.append(
            _("Not estimated: %(outcome)s has values at fewer than two follow-up visits.")
            % {"outcome": context.names.outcome(outcome)}
        )
        return section
    long = follow_up[["study_id", "visit", outcome]].merge(context.participants, on="study_id")
    covariates = [c for c in context.model_covariates() if c in long.columns and c != "site"]
    if context.data.design == "individual" and "site" in context.plan.covariates:
        covariates.append("site")
    binary = context.binary(outcome)
    cluster = "site" if context.clustered else None
    long, period = context.period_column(long)
    structures = [repeated.EXCHANGEABLE] if cluster else [repeated.EXCHANGEABLE, repeated.AR1]
    rows: list[tuple[dict[str, object], Estimate]] = []
    stated = []
    for arm, name in context.comparisons():
        pair = context.pair(long, arm)
        for structure in structures:
            fit = repeated.fit_repeated(
                pair,
                outcome,
                visits,
                binary,
                structure,
                cluster=cluster,
                covariates=covariates,
                period=period,
                label=context.names.covariate,
            )
            if fit.problem:
                section.problems.append(
                    _(
                        "Repeated-measures model (%(comparison)s, %(correlation)s) not "
                        "estimated: %(why)s"
                    )
                    % {
                        "comparison": name,
                        "correlation": repeated.correlation_name(structure),
                        "why": fit.problem,
                    }
                )
                continue
            stated.append(repeated.alpha_text(fit))
            for visit, estimate in fit.rows:
                where = context.names.visit(visit) if visit else _("overall (average over visits)")
                estimate.measure = f"{estimate.measure}, {where}"
                estimate.method = repeated.alpha_text(fit)
                rows.append(({"comparison": name, "outcome": outcome}, estimate))
    if not rows:
        return section
    notes = [
        _(
            "One GEE model for %(outcome)s at every follow-up visit: arm × visit, so each "
            "visit has its own arm effect; the overall effect is their average. Method column: "
            "the working correlation and its estimate."
        )
        % {"outcome": context.names.outcome(outcome)},
        _(
            "Cluster trial: sites are the model's clusters (exchangeable working correlation "
            "within sites, which takes in the correlation within participants), Mancl–DeRouen "
            "bias-reduced sandwich, t reference with K − 2 degrees of freedom; no AR(1) model."
        )
        if cluster
        else _(
            "Working correlations within participants over the visits: exchangeable and "
            "first-order autoregressive (AR(1)), robust (sandwich) standard errors."
        ),
        *(
            [_("Stepped wedge: period (calendar quarter of randomisation) as fixed effects.")]
            if period
            else []
        ),
    ]
    section.tables.append(
        estimates_table(
            "repeated_measures",
            capital(
                _("%(outcome)s over follow-up visits in one model")
                % {"outcome": context.names.outcome(outcome)}
            ),
            rows,
            notes,
            context.names,
        )
    )
    section.problems.extend(estimate_problems(rows))
    return section


# --- time to first paid work -------------------------------------------------------------------


MIN_VISITS = 2
"""Follow-up visits with the work question answered that time to first paid work needs: the
times come from assessment dates, so with one visit every time is that visit's date."""
MIN_EVENTS = 10
"""Events (first paid work seen) below which no log-rank test or hazard ratio is estimated."""


def follow_up_visits(context: Context) -> int:
    """How many visits after randomisation have the paid-work question answered."""
    outcomes = context.data.outcomes
    if outcomes.empty or "in_paid_work" not in outcomes.columns:
        return 0
    answered = outcomes.loc[outcomes["in_paid_work"].notna() & (outcomes["offset_months"] > 0)]
    return int(answered["visit"].nunique())


REGISTER_WORK = "time_to_first_work"
"""The register endpoint that, when the plan names it, gives the section on time to first
paid work its times (register dates in place of assessment dates)."""


def register_time_section(context: Context, section: Section, outcome: str, key: str) -> Section:
    """Time to the first spell of a register state (``time_to_first_<state>``): Kaplan–Meier
    by arm from register dates, the log-rank test and the Cox hazard ratio (cluster-adjusted in
    cluster designs), as :func:`survival_tables`."""
    times = context.data.register_times.get(outcome)
    if times is None or times.empty:
        section.problems.append(
            _("No register times for %(outcome)s.") % {"outcome": context.names.outcome(outcome)}
        )
        return section
    frame = context.participants.merge(times[["study_id", "months", "event"]], on="study_id")
    frame = frame.loc[frame["months"].notna() & (frame["months"] >= 0)]
    frame["event"] = frame["event"].fillna(False).astype(bool)
    name = context.names.outcome(outcome)
    section.text.append(
        _(
            "Times come from register dates: months (days / 30.44) from randomisation to the "
            "start of the first spell (0 for a spell going on at randomisation), so the curves "
            "step on the days spells start. Participants without such a spell are censored at "
            "the end of register follow-up: the end of the follow-up window, the data cut-off "
            "or the day the register data are complete until, whichever is first."
        )
    )
    words = {
        "median": _("Median %(outcome)s") % {"outcome": name},
        "figure": capital(_("Cumulative proportion reaching the state: %(outcome)s"))
        % {"outcome": name},
        "axis": _("Proportion reached"),
        "hazard": _(
            "Hazard ratio above 1: the state reached sooner in the arm than in the reference."
        ),
    }
    return survival_tables(context, section, frame, key, words)


def time_to_work_section(context: Context) -> Section:
    """Kaplan–Meier by arm with median and numbers at risk, log-rank test and Cox HR.

    Not estimated, with the reason, when the data cannot support it: fewer than
    :data:`MIN_VISITS` follow-up visits with the work question answered (then the curve is a
    single step at one visit), and no log-rank test or hazard ratio with fewer than
    :data:`MIN_EVENTS` events. Cluster designs: no interval for the median (the
    Brookmeyer–Crowley interval ignores clustering), the cluster-adjusted log-rank test and
    the cluster-robust Cox model, stratified by period in a stepped wedge.
    """
    section = Section("time_to_work", _("Time to first paid work"))
    registered = context.data.register_times.get(REGISTER_WORK)
    if registered is not None:
        return register_time_section(context, section, REGISTER_WORK, "time_to_work")
    ttw = context.data.time_to_work
    if ttw is None or ttw.empty or ttw["months"].notna().sum() == 0:
        section.problems.append(_("No time-to-work data."))
        return section
    visits = follow_up_visits(context)
    if visits < MIN_VISITS:
        section.problems.append(
            _(
                "Not estimated: time to first paid work is taken from the dates of the "
                "assessments, and only %(visits)s follow-up visit has the work question "
                "answered, so every time would be that visit's date. At least %(needed)s "
                "visits are needed."
            )
            % {"visits": number(visits), "needed": number(MIN_VISITS)}
        )
        return section
    frame = context.participants.merge(
        ttw[["study_id", "months", "event"]], on="study_id", how="inner"
    )
    frame = frame.loc[frame["months"].notna() & (frame["months"] >= 0)]
    frame["event"] = frame["event"].fillna(False).astype(bool)
    section.text.append(
        _(
            "Times come from the dates of the follow-up assessments: a participant first found "
            "in paid work at a visit started work at some time since the previous visit, so "
            "the curves step at the visits and the times are later than the true ones by up "
            "to one visit interval. Participants not yet in work are censored at their last "
            "assessment."
        )
    )
    words = {
        "median": _("Median time to first paid work"),
        "figure": _("Cumulative proportion in first paid work"),
        "axis": _("Proportion in paid work"),
        "hazard": _(
            "Hazard ratio above 1: paid work reached sooner in the arm than in the reference."
        ),
    }
    return survival_tables(context, section, frame, "time_to_work", words)


def survival_tables(
    context: Context, section: Section, frame: pd.DataFrame, key: str, words: dict[str, str]
) -> Section:
    """Kaplan–Meier curves by arm (median, numbers at risk, figure), the log-rank test
    (cluster-adjusted in cluster designs) and the Cox hazard ratio of ``frame`` (participants
    with ``months`` and ``event``) into ``section``; tables keyed ``<key>_km`` etc. ``words``
    gives the median table's and figure's titles, the figure's axis and the hazard ratio's
    note."""
    arms = context.arms
    curves = {
        context.labels[a]: survival.kaplan_meier(*_te(frame.loc[frame["arm"] == a])) for a in arms
    }
    longest = float(frame["months"].max()) if len(frame) else 0.0
    step = 3.0 if longest <= 24 else 6.0
    grid = [step * i for i in range(int(longest // step) + 1)] or [0.0]
    at_risk = {
        context.labels[a]: survival.numbers_at_risk(frame.loc[frame["arm"] == a, "months"], grid)
        for a in arms
    }
    km_rows = [
        {
            _("Arm"): label,
            _("n"): curve.n,
            _("Events"): curve.events,
            _("Median months"): curve.median,
            _("95% CI lower"): None if context.clustered else curve.median_ci[0],
            _("95% CI upper"): None if context.clustered else curve.median_ci[1],
        }
        for label, curve in curves.items()
    ]
    km_notes = [
        _(
            "Kaplan–Meier; median = first time the proportion not yet in work is 0.5 or less "
            "(empty when not reached); CI by Brookmeyer–Crowley (cloglog)."
        )
    ]
    if context.clustered:
        km_notes = [
            _(
                "Kaplan–Meier; median = first time the proportion not yet in work is 0.5 or "
                "less (empty when not reached). No confidence interval is given for the "
                "median: the Brookmeyer–Crowley interval ignores clustering by site."
            )
        ]
    km_table = Table(
        f"{key}_km",
        words["median"],
        clean(pd.DataFrame(km_rows)),
        km_notes,
    )
    risk_frame = pd.DataFrame(
        {_("Arm"): list(at_risk)}
        | {
            number(t, 0 if float(t).is_integer() else 1): [at_risk[a][i] for a in at_risk]
            for i, t in enumerate(grid)
        }
    )
    risk_table = Table(f"{key}_at_risk", _("Numbers at risk by month"), risk_frame)
    section.tables.extend([km_table, risk_table])
    section.figures.append(
        Figure(
            f"{key}_figure",
            words["figure"],
            figures.km_svg(
                curves,
                at_risk,
                grid,
                _("Months from randomisation"),
                words["axis"],
                _("Numbers at risk"),
            ),
            risk_table,
        )
    )
    events = int(frame["event"].sum())
    if events < MIN_EVENTS:
        section.problems.append(
            _(
                "No log-rank test or hazard ratio: %(events)s participants were seen in paid "
                "work, fewer than the %(needed)s such a comparison needs."
            )
            % {"events": number(events), "needed": number(MIN_EVENTS)}
        )
        return section
    rows: list[tuple[dict[str, object], Estimate]] = []
    covariates = [c for c in context.model_covariates() if c in frame.columns]
    frame, period = context.period_column(frame)
    cluster = "site" if context.clustered else None
    test_rows = []
    for arm, name in context.comparisons():
        pair = context.pair(frame, arm)
        if cluster:
            statistic, p, df, why = survival.robust_logrank(pair, "site", strata=period)
            test_rows.append(
                {
                    _("Comparison"): name,
                    _("Robust score statistic (F)"): statistic,
                    _("Degrees of freedom"): None if df is None else f"1, {number(df)}",
                    _("p-value"): p,
                }
            )
            if why:
                section.problems.append(
                    _("Cluster-adjusted log-rank test (%(comparison)s) not computed: %(why)s")
                    % {"comparison": name, "why": why}
                )
        else:
            statistic, p = survival.logrank(pair["months"], pair["event"], pair["treat"])
            test_rows.append(
                {_("Comparison"): name, _("Log-rank chi-square"): statistic, _("p-value"): p}
            )
        rows.append(
            (
                {"comparison": name},
                survival.cox_hazard_ratio(pair, [], cluster=cluster, strata=period),
            )
        )
        if covariates:
            adjusted = survival.cox_hazard_ratio(
                pair, covariates, cluster=cluster, strata=period, label=context.names.covariate
            )
            adjusted.measure = _("adjusted %(measure)s") % {"measure": adjusted.measure}
            rows.append(({"comparison": name}, adjusted))
    if cluster:
        test_table = Table(
            f"{key}_logrank",
            _("Cluster-adjusted log-rank test"),
            clean(pd.DataFrame(test_rows)),
            [
                _(
                    "Robust score test of the Cox model at a hazard ratio of 1 (Lin & Wei 1989): "
                    "the log-rank statistic's numerator (observed − expected first jobs) over "
                    "its variance summed by site, referred to F(1, K − 2) for K sites; "
                    "two-sided."
                ),
                *(
                    [_("Stratified by period (calendar quarter of randomisation).")]
                    if period
                    else []
                ),
            ],
            group=_("Comparison"),
        )
    else:
        test_table = Table(
            f"{key}_logrank",
            _("Log-rank test"),
            clean(pd.DataFrame(test_rows)),
            [_("Chi-square with 1 degree of freedom; two-sided.")],
            group=_("Comparison"),
        )
    section.tables.append(test_table)
    hr_notes = [words["hazard"]]
    if period:
        hr_notes.append(
            _("Stepped wedge: stratified by period (calendar quarter of randomisation).")
        )
    section.tables.append(estimates_table(f"{key}_cox", _("Cox regression"), rows, hr_notes))
    section.problems.extend(estimate_problems(rows))
    return section


def _te(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    return frame["months"], frame["event"]


# --- contamination and non-compliance ----------------------------------------------------------


def compliance_section(context: Context) -> Section:
    """Contamination by arm, and ITT beside CACE (IV), per-protocol and as-treated."""
    section = Section("compliance", _("Contamination and non-compliance"))
    if context.blinded:
        section.problems.append(
            _(
                "Withheld while the report is blinded: "
                "this analysis reveals which arm is the control."
            )
        )
        return section
    plan = context.plan
    frame = context.at_visit(plan.time_point)
    exposure = context.data.exposure
    if exposure is not None and not exposure.empty:
        columns = ["study_id", "exposed", "contacted"]
        frame = frame.merge(exposure[columns], on="study_id", how="left")
    else:
        frame = frame.assign(exposed=False, contacted=False)
    frame["exposed"] = frame["exposed"].fillna(False).astype(bool)
    frame["contacted"] = frame["contacted"].fillna(False).astype(bool)
    unlogged = []
    for arm in context.others:
        in_arm = (frame["arm"] == arm) & ~frame["is_control"].astype(bool)
        if in_arm.any() and not frame.loc[in_arm, "contacted"].any():
            # No contact logged in the whole arm: the trial does not use the contact log
            # there, so whether someone was reached is unknown; count all as treated.
            frame.loc[in_arm, "contacted"] = True
            unlogged.append(context.labels[arm])
    frame["received"] = compliance.received_treatment(
        frame["is_control"], frame["exposed"], frame["contacted"]
    )
    rates = []
    for arm in context.arms:
        group = frame.loc[frame["arm"] == arm]
        exposed = int(group["exposed"].sum())
        rates.append(
            {
                _("Arm"): context.labels[arm],
                _("Randomised"): len(group),
                _("Exposed to intervention components"): exposed,
                _("Proportion exposed"): exposed / len(group) if len(group) else None,
                _("Treatment received"): int(group["received"].sum()),
            }
        )
    notes = [
        _(
            "No contact is logged for %(arm)s, so whether its participants were reached is not "
            "known: all of them count as having received the intervention."
        )
        % {"arm": name}
        for name in unlogged
    ]
    section.tables.append(
        Table(
            "contamination_by_arm",
            _("Exposure to intervention-specific components by arm"),
            clean(pd.DataFrame(rates)),
            notes=notes,
        )
    )
    outcome = plan.primary_outcome
    problem = outcome_problem(context, outcome, frame)
    if problem:
        section.problems.append(problem)
        return section
    section.text.append(
        _(
            "Treatment received counts a participant randomised to an intervention arm as "
            "treated when at least one contact with them was logged by the cut-off (as in the "
            "participant flow), and a control participant when they received an "
            "intervention-specific component. The complier-average causal effect (CACE) uses the "
            "randomised arm as instrument (two-stage least squares). Per-protocol and as-treated "
            "comparisons break randomisation and are biased; they are shown for description only."
        )
    )
    binary = context.binary(outcome)
    if context.clustered:
        rows, notes = clustered_compliance_rows(context, frame, outcome, binary)
    else:
        rows, notes = compliance_rows(context, frame, outcome, binary)
    for row in rows:
        row[1].note = row[1].note or None
    section.tables.append(
        estimates_table(
            "compliance_effects", _("ITT, CACE, per-protocol and as-treated estimates"), rows, notes
        )
    )
    section.problems.extend(estimate_problems(rows))
    return section


def compliance_rows(
    context: Context, frame: pd.DataFrame, outcome: str, binary: bool
) -> tuple[list[tuple[dict[str, object], Estimate]], list[str]]:
    """ITT, CACE, per-protocol and as-treated rows under individual randomisation: the
    differences by the primary table's unadjusted estimator (one SE per estimate across the
    report), the CACE by 2SLS with HC0."""
    rows: list[tuple[dict[str, object], Estimate]] = []
    for arm, name in context.comparisons():
        pair = context.pair(frame, arm)
        pair = pair.loc[pair[outcome].notna()]
        y = pair[outcome].astype(float)
        extra: dict[str, object] = {"comparison": name}
        itt_measure = _("ITT risk difference") if binary else _("ITT difference in means")
        rows.append(
            (extra, compliance.difference(y, pair["treat"], itt_measure, "", binary=binary))
        )
        cace, first_f = compliance.iv_2sls(y, pair["received"], pair["treat"])
        if first_f is not None:
            cace.note = " ".join(
                filter(None, [cace.note, _("First-stage F: %(f)s.") % {"f": number(first_f, 1)}])
            )
        rows.append((extra, cace))
        protocol = pair.loc[~((pair["treat"] == 0) & pair["exposed"])]
        rows.append(
            (
                extra,
                compliance.difference(
                    protocol[outcome].astype(float),
                    protocol["treat"],
                    _("per-protocol difference (biased)"),
                    _("Excludes contaminated controls; not randomised, so biased."),
                    binary=binary,
                ),
            )
        )
        rows.append(
            (
                extra,
                compliance.difference(
                    y,
                    pair["received"],
                    _("as-treated difference (biased)"),
                    _("Compares treatment received, not randomised; biased."),
                    binary=binary,
                ),
            )
        )
    notes = [
        _("Differences on the risk-difference scale for binary outcomes."),
        _(
            "The ITT, per-protocol and as-treated differences use the estimator of the primary "
            "outcome's unadjusted comparison, with the same standard error."
        ),
    ]
    return rows, notes


def clustered_compliance_rows(
    context: Context, frame: pd.DataFrame, outcome: str, binary: bool
) -> tuple[list[tuple[dict[str, object], Estimate]], list[str]]:
    """The compliance rows of a cluster or stepped-wedge trial: all four by least squares
    (two-stage for the CACE) with the CR2 covariance by site and a t(K − 2) reference, period
    fixed effects in a stepped wedge; the first-stage F is the squared CR2 t statistic."""
    frame, period = context.period_column(frame)
    rows: list[tuple[dict[str, object], Estimate]] = []
    rd = _("risk difference") if binary else _("difference in means")
    least_squares = _("least squares, CR2 cluster-robust SE")
    for arm, name in context.comparisons():
        pair = context.pair(frame, arm)
        pair = pair.loc[pair[outcome].notna()].assign(
            received=lambda f: f["received"].astype(float)
        )
        extra: dict[str, object] = {"comparison": name}

        def estimate(data: pd.DataFrame, measure: str, method: str, **options: Any) -> Estimate:
            return clustered.cluster_difference(
                data, outcome, "site", measure, method, period=period, **options
            )

        rows.append((extra, estimate(pair, _("ITT %(measure)s") % {"measure": rd}, least_squares)))
        cace = estimate(
            pair,
            _("complier-average causal effect"),
            _("2SLS, arm as instrument, CR2 cluster-robust SE"),
            treat="received",
            instrument="treat",
        )
        f_value = clustered.first_stage_f(pair, "received", "treat", "site", period)
        if cace.estimate is not None and f_value is not None:
            cace.note = " ".join(
                filter(
                    None,
                    [
                        cace.note,
                        _("First-stage F (cluster-robust): %(f)s.") % {"f": number(f_value, 1)},
                        _("Weak instrument: first-stage F below 10.") if f_value < 10 else "",
                    ],
                )
            )
        rows.append((extra, cace))
        protocol = pair.loc[~((pair["treat"] == 0) & pair["exposed"])]
        per_protocol = estimate(protocol, _("per-protocol difference (biased)"), least_squares)
        per_protocol.note = " ".join(
            filter(
                None,
                [
                    _("Excludes contaminated controls; not randomised, so biased."),
                    per_protocol.note,
                ],
            )
        )
        rows.append((extra, per_protocol))
        as_treated = estimate(
            pair, _("as-treated difference (biased)"), least_squares, treat="received"
        )
        as_treated.note = " ".join(
            filter(
                None,
                [_("Compares treatment received, not randomised; biased."), as_treated.note],
            )
        )
        rows.append((extra, as_treated))
    notes = [
        _("Differences on the risk-difference scale for binary outcomes."),
        _(
            "Cluster-aware: least squares (two-stage for the CACE) with the CR2 bias-reduced "
            "cluster-robust standard error by site and a t reference with K − 2 degrees of "
            "freedom for K sites. The ITT here is the CACE's numerator (unweighted least "
            "squares), so it can differ slightly from the GEE estimate of the primary table, "
            "which is the primary analysis."
        ),
    ]
    if period:
        notes.append(
            _("Stepped wedge: period (calendar quarter of randomisation) as fixed effects.")
        )
    return rows, notes


# --- missing outcomes --------------------------------------------------------------------------


def register_missing(context: Context, section: Section, outcome: str) -> Section:
    """A register primary endpoint is missing only where the register follow-up it needs was
    not over by the cut-off: counted by arm, not imputed (nothing was lost)."""
    if is_time_to_event(outcome):
        section.text.append(
            _(
                "The primary outcome comes from the registers and is censored at the end of "
                "register follow-up; no participant's outcome is missing."
            )
        )
        return section
    frame = context.at_visit(context.plan.time_point)
    if outcome not in frame.columns:
        section.problems.append(
            outcome_problem(context, outcome, frame) or _("No register endpoint values.")
        )
        return section
    rows = [
        {
            _("Arm"): context.labels[arm],
            _("Randomised"): int((frame["arm"] == arm).sum()),
            _("Outcome observed"): int(frame.loc[frame["arm"] == arm, outcome].notna().sum()),
            _("Not yet observed"): int(frame.loc[frame["arm"] == arm, outcome].isna().sum()),
        }
        for arm in context.arms
    ]
    section.tables.append(
        Table(
            "missing_by_arm",
            capital(
                _("Register follow-up of %(outcome)s by arm")
                % {"outcome": context.names.outcome(outcome)}
            ),
            clean(pd.DataFrame(rows)),
        )
    )
    section.text.append(
        _(
            "The primary outcome comes from the registers: it is missing only for participants "
            "whose register follow-up had not covered the window by the cut-off. They are left "
            "out, not imputed: their outcome is not lost but not yet due."
        )
    )
    return section


def missing_section(context: Context) -> Section:
    """Missing primary outcomes by arm and reason; complete case beside multiple imputation.

    Only participants whose visit was due by the cut-off are imputed: a visit whose window was
    still open ("not yet due") is left out of both analyses, and the imputation uses the
    outcome at earlier visits only, whose windows closed before it. Cluster designs: the
    complete-case difference and the analysis of each imputed data set by least squares with
    the CR2 covariance, sites as fixed effects in the imputation models (see
    :func:`reports.analysis.missing.multiple_imputation`).
    """
    plan = context.plan
    outcome = plan.primary_outcome
    section = Section("missing", _("Missing outcomes"))
    if context.is_register(outcome):
        return register_missing(context, section, outcome)
    counts = missing.missing_outcomes_table(
        context.participants, context.data.outcomes, context.data.missed, outcome, plan.time_point
    )
    if not counts.empty:
        counts = counts.set_index("arm").reindex(
            [a for a in context.arms if a in set(counts["arm"])]
        )
        counts = counts.reset_index()
        counts["arm"] = counts["arm"].map(context.labels)
    names = {
        "arm": _("Arm"),
        "randomised": _("Randomised"),
        "observed": _("Outcome observed"),
        "missing": _("Outcome missing"),
        "missed": _("Visit missed"),
        "withdrawn": _("Withdrawn"),
        "lost": _("Lost to follow-up"),
        "not yet due": _("Not yet due"),
        "value missing": _("Value missing"),
        "no record": _("No record"),
    }
    section.tables.append(
        Table(
            "missing_by_arm",
            _("Missing %(outcome)s at %(visit)s by arm and reason")
            % {
                "outcome": context.names.outcome(outcome),
                "visit": context.names.visit(plan.time_point),
            },
            clean(counts.rename(columns=names)),
        )
    )
    frame = context.at_visit(plan.time_point)
    problem = outcome_problem(context, outcome, frame)
    if problem:
        section.problems.append(problem)
        return section
    not_due = not_yet_due(context, plan.time_point)
    frame = frame.loc[~frame["study_id"].isin(not_due)]
    n_missing = int(frame[outcome].isna().sum())
    if n_missing == 0:
        section.text.append(
            _("No primary outcomes are missing; multiple imputation is not needed.")
        )
        return section
    section.text.append(
        _(
            "%(missing)s of %(total)s primary outcomes that were due by the cut-off are missing. "
            "As a sensitivity analysis the missing values were imputed by chained equations "
            "(predictive mean matching, using arm, covariates and the outcome at earlier visits) "
            "and the estimates pooled by Rubin's rules."
        )
        % {"missing": number(n_missing), "total": number(len(frame))}
    )
    if not_due:
        section.text.append(
            _(
                "%(count)s participants whose visit was not yet due at the cut-off are left out: "
                "their outcome is not missing, it has not happened yet."
            )
            % {"count": number(len(not_due))}
        )
    wide = auxiliary_visits(context, outcome)
    covariates = [c for c in context.covariates_for(outcome, frame) if c in frame.columns]
    frame, period = context.period_column(frame)
    cluster = "site" if context.clustered else None
    rows: list[tuple[dict[str, object], Estimate]] = []
    for arm, name in context.comparisons():
        pair = context.pair(frame, arm)
        auxiliary: list[str] = []
        if wide is not None:
            pair = pair.merge(wide, on="study_id", how="left")
            auxiliary = list(wide.columns.drop("study_id"))
        pair[outcome] = pair[outcome].astype(float)
        if cluster:
            complete = clustered.cluster_difference(
                pair,
                outcome,
                cluster,
                _("difference (complete case)"),
                _("least squares, CR2 cluster-robust SE"),
                covariates=covariates,
                period=period,
                label=context.names.covariate,
            )
        else:
            complete = ancova_hc3(pair, outcome, covariates, label=context.names.covariate)
            complete.measure = _("difference (complete case)")
            complete.method = _("linear regression, HC3 robust SE")
        rows.append(({"comparison": name}, complete))
        rows.append(
            (
                {"comparison": name},
                missing.multiple_imputation(
                    pair,
                    outcome,
                    covariates,
                    context.seed,
                    auxiliary=auxiliary,
                    cluster=cluster,
                    period=period,
                    label=context.names.covariate,
                ),
            )
        )
    notes = [
        _(
            "Both on the difference scale (risk difference for a binary outcome), "
            "adjusted for the plan's covariates."
        ),
        _("Seed %(seed)s; the same data and seed give the same imputations.")
        % {"seed": context.seed},
    ]
    if cluster:
        notes.append(
            _(
                "Cluster-aware: sites enter the imputation models as fixed effects; each imputed "
                "data set is analysed with the CR2 cluster-robust standard error, and the "
                "pooled estimate has a t reference with Barnard–Rubin degrees of freedom from "
                "K − 2 complete-data degrees of freedom for K sites."
            )
        )
    section.tables.append(
        estimates_table(
            "missing_sensitivity", _("Complete case and multiple imputation"), rows, notes
        )
    )
    section.problems.extend(estimate_problems(rows))
    return section


def not_yet_due(context: Context, visit: str) -> set[str]:
    """Study ids whose ``visit`` was not yet due on the cut-off (its window still open)."""
    missed = context.data.missed
    if missed is None or missed.empty or "reason" not in missed.columns:
        return set()
    rows = missed.loc[(missed["visit"] == visit) & (missed["reason"] == "not yet due")]
    return set(rows["study_id"])


def auxiliary_visits(context: Context, outcome: str) -> pd.DataFrame | None:
    """The outcome at the visits before the plan's time point, one column per visit (at most
    four, the latest), for imputation: their windows closed before the time point's, so no
    visit that was not yet due is imputed through them."""
    outcomes = context.data.outcomes
    own = outcomes.loc[outcomes["visit"] == context.plan.time_point, "offset_months"]
    if own.empty:
        return None
    others = outcomes.loc[(outcomes["offset_months"] < own.iloc[0]) & outcomes[outcome].notna()]
    if others.empty:
        return None
    visits = others.drop_duplicates("visit").sort_values("offset_months")["visit"].tolist()[-4:]
    wide = others.loc[others["visit"].isin(visits)].pivot_table(
        index="study_id", columns="visit", values=outcome, aggfunc="first"
    )
    wide = wide.astype(float)
    wide.columns = [f"{outcome}_at_{v}" for v in wide.columns]
    return wide.reset_index()


# --- subgroups ---------------------------------------------------------------------------------


def subgroup_section(context: Context) -> Section:
    """Pre-specified subgroups: effect per subgroup, interaction test and forest plot."""
    plan = context.plan
    outcome = plan.primary_outcome
    section = Section("subgroups", _("Subgroup analyses"))
    if not plan.subgroups:
        section.text.append(_("The analysis plan names no subgroups."))
        return section
    frame = context.at_visit(plan.time_point)
    problem = outcome_problem(context, outcome, frame)
    if problem:
        section.problems.append(problem)
        return section
    binary = context.binary(outcome)
    names = context.names
    records, forest = [], []
    variables: list[str] = []
    levels: list[str] = []
    frame, period = context.period_column(frame)
    cluster = "site" if context.clustered else None
    for variable in plan.subgroups:
        if variable not in frame.columns or frame[variable].notna().sum() == 0:
            section.problems.append(
                _("Subgroup variable %(name)s is not in the data.")
                % {"name": names.covariate(variable)}
            )
            continue
        for arm, name in context.comparisons():
            pair = context.pair(frame, arm)
            result = subgroups.subgroup_effects(
                pair, outcome, variable, binary, cluster=cluster, period=period
            )
            for level, estimate in result.estimates:
                records.append(
                    {
                        _("Comparison"): name,
                        _("Subgroup"): variable,
                        _("Level"): level,
                        _("n analysed (arm)"): estimate.n_treated,
                        _("n analysed (reference)"): estimate.n_control,
                        _("Estimate"): estimate.estimate,
                        _("95% CI lower"): estimate.ci_low,
                        _("95% CI upper"): estimate.ci_high,
                        _("p-value"): estimate.p_value,
                        _("p for interaction"): result.interaction_p,
                        _("Note"): estimate.note or result.note,
                    }
                )
                variables.append(capital(names.covariate(variable)))
                levels.append(names.level(variable, level))
                if arm == context.others[0]:
                    forest.append(
                        (
                            f"{capital(names.covariate(variable))}: {names.level(variable, level)}",
                            estimate.estimate,
                            estimate.ci_low,
                            estimate.ci_high,
                        )
                    )
            if result.interaction_p is None and result.note:
                section.problems.append(f"{capital(names.covariate(variable))}: {result.note}")
    if not records:
        return section
    measure = _("risk difference") if binary else _("difference in means")
    if cluster:
        notes = [
            _(
                "Estimates are %(measures)s within each subgroup by least squares with the CR2 "
                "cluster-robust standard error by site and a t reference with K − 2 degrees of "
                "freedom (K sites with the subgroup); the interaction test is the CR2 Wald test "
                "of arm × subgroup against F(q, K − 2), q the number of interaction terms."
            )
            % {"measures": _("risk differences") if binary else _("differences in means")},
        ]
        if period:
            notes.append(
                _("Stepped wedge: period (calendar quarter of randomisation) as fixed effects.")
            )
    elif binary:
        notes = [
            _(
                "Estimates are risk differences within each subgroup (Wald, p(1 − p)/n in each "
                "arm, normal reference); the interaction test is a likelihood-ratio test of arm "
                "× subgroup in a logistic model (chi-square)."
            )
        ]
    else:
        notes = [
            _(
                "Estimates are differences in means within each subgroup (Welch t test); the "
                "interaction test is a likelihood-ratio test of arm × subgroup in a linear model "
                "(chi-square)."
            )
        ]
    notes += [_("Numeric subgroup variables are split at the median."), two_sided()]
    table = Table(
        "subgroups",
        _("Effect of the primary outcome by subgroup"),
        clean(pd.DataFrame(records)),
        notes,
        shown={_("Subgroup"): variables, _("Level"): levels},
        group=_("Comparison"),
        runs=(_("Subgroup"), _("p for interaction")),
    )
    section.tables.append(table)
    if forest:
        svg = figures.forest_svg(forest, 0.0, measure)
        name = context.comparisons()[0][1]
        section.figures.append(
            Figure(
                "subgroups_forest",
                _("Subgroup effects: %(comparison)s") % {"comparison": name},
                svg,
                table,
            )
        )
    return section
