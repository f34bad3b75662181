"""Data frames for the analyses, read from the database: one query per table, study ids only.

Every function here runs a single ``values()`` query (joins done by the database) and builds
the frame with pandas; nothing loops over model instances. Everything is as it stood on the
data cut-off date: participants randomised by then, assessments made by then, withdrawals and
exposures dated by then. Personal numbers are never selected.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import numpy as np
import pandas as pd

from pathways.models import Spell
from reports.analysis.results import EffectData
from reports.variables import BINARY, NUMERIC_KINDS, Variable, kind_of
from reports.variables import variables as dictionary_variables
from trial.models import (
    CovariateDefinition,
    LossToFollowUp,
    Participant,
    ScreeningRecord,
    Trial,
    Visit,
    Withdrawal,
)

DAYS_PER_MONTH = 365.25 / 12

PARTICIPANT_COLUMNS = [
    "study_id",
    "arm",
    "arm_label",
    "is_control",
    "site",
    "randomised_on",
    "stratum",
    "withdrawn",
    "withdrawn_on",
]
OUTCOME_COLUMNS = [
    "study_id",
    "visit",
    "offset_months",
    "assessed_on",
    "in_paid_work",
    "hours_per_week",
    "monthly_earnings",
    "on_benefits",
    "self_rated_health",
    "benefit_type",
    "occupation_code",
    "contamination_reported",
]


def participants(trial: Trial, cut_off: dt.date) -> pd.DataFrame:
    """Randomised participants (allocated on or before ``cut_off``) with arm and baseline."""
    rows = (
        Participant.objects.filter(
            trial=trial,
            allocation__isnull=False,
            allocation__allocated_on__lte=cut_off,
        )
        .order_by("study_id")
        .values(
            "study_id",
            "site__code",
            "randomised_on",
            "allocation__allocated_on",
            "allocation__stratum",
            "allocation__arm__code",
            "allocation__arm__name",
            "allocation__arm__is_control",
            "withdrawal__withdrawn_on",
            "baseline",
        )
    )
    frame = pd.DataFrame.from_records(list(rows))
    covariates = list(trial.covariates.order_by("order", "key").values_list("key", "kind"))
    if frame.empty:
        columns = PARTICIPANT_COLUMNS + [key for key, _kind in covariates]
        return pd.DataFrame(columns=columns)
    withdrawn_on = frame["withdrawal__withdrawn_on"].where(
        frame["withdrawal__withdrawn_on"].map(lambda d: d is not None and d <= cut_off), None
    )
    out = pd.DataFrame(
        {
            "study_id": frame["study_id"],
            "arm": frame["allocation__arm__code"],
            "arm_label": frame["allocation__arm__name"],
            "is_control": frame["allocation__arm__is_control"].astype(bool),
            "site": frame["site__code"],
            "randomised_on": frame["randomised_on"].fillna(frame["allocation__allocated_on"]),
            "stratum": frame["allocation__stratum"].replace("", None),
            "withdrawn": withdrawn_on.notna(),
            "withdrawn_on": withdrawn_on,
        }
    )
    baseline = pd.json_normalize(frame["baseline"].tolist())
    for key, kind in covariates:
        values = baseline[key] if key in baseline else pd.Series([None] * len(out))
        if kind in (CovariateDefinition.Kind.INTEGER, CovariateDefinition.Kind.DECIMAL):
            values = pd.to_numeric(values, errors="coerce")
        elif kind == CovariateDefinition.Kind.BOOLEAN:
            values = values.astype("boolean")
        else:
            values = values.astype("string")
        out[key] = values.to_numpy()
    return out.reset_index(drop=True)


def outcomes(trial: Trial, cut_off: dt.date, found: list[Variable] | None = None) -> pd.DataFrame:
    """One row per visit with an assessment made on or before ``cut_off`` (visits without one
    are absent): every variable of the trial's instruments (:func:`answers`). The columns of
    the old fixed assessment (:data:`OUTCOME_COLUMNS`) come first, with their old types."""
    return answers(trial, cut_off, found)


def answers(trial: Trial, cut_off: dt.date, found: list[Variable] | None = None) -> pd.DataFrame:
    """Every answer and score of the trial's instruments, one row per (study_id, visit) with at
    least one assessment made on or before ``cut_off`` by a participant randomised by then.

    One query over the answer store for all the trial's instruments; the contamination answer
    comes from the visit (``contamination_reported``). Columns: ``study_id``, ``visit``,
    ``offset_months``, ``assessed_on`` (the visit's first assessment), then one column per
    variable of the dictionary ``found`` (the trial's by default), typed by its kind: binary as
    bool (``boolean`` when some are blank), continuous and score as float, count and ordinal
    as numbers (integers when none is blank), date as dates, choice, text and occupation as
    text (blank is the empty string); a multiple choice is one 0/1 column per choice instead
    (:func:`choice_indicators`). An answer given as a missing-data code is blank (NaN) and its
    code is in ``<name>_missing``, a column made only for variables where some code was used.
    An instrument with more than one version gets ``<instrument>_version``: the version each
    row's answers were entered under.
    """
    found = dictionary_variables(trial) if found is None else found
    rows = _answer_rows(trial, cut_off)
    keys: dict[int, list[Any]] = {}
    values: dict[int, dict[str, Any]] = {}
    codes: dict[int, dict[str, str]] = {}
    versions: dict[int, dict[str, int]] = {}
    contamination: dict[int, bool | None] = {}
    for row in rows:
        visit_id, study_id, visit, offset, on, instrument, version, given, missing, scores = row[
            :10
        ]
        contamination[visit_id] = row[10]
        _merge_row(keys, visit_id, study_id, visit, offset, on)
        values.setdefault(visit_id, {}).update(given or {})
        values[visit_id].update({k: v for k, v in (scores or {}).items() if v is not None})
        if missing:
            codes.setdefault(visit_id, {}).update(missing)
        versions.setdefault(visit_id, {})[instrument] = version
    order = list(keys)  # the database's order: study id, then visit
    columns: dict[str, pd.Series] = {
        "study_id": pd.Series([keys[pk][0] for pk in order], dtype=object).astype("str"),
        "visit": pd.Series([keys[pk][1] for pk in order], dtype=object).astype("str"),
        "offset_months": pd.Series([keys[pk][2] for pk in order], dtype="int64"),
        "assessed_on": pd.Series([keys[pk][3] for pk in order], dtype=object),
    }
    typed, flags = _typed_answers(found, order, values, codes)
    if "contamination_reported" not in typed:
        typed["contamination_reported"] = pd.Series(
            [contamination.get(pk) for pk in order], dtype=object
        )
    typed["contamination_reported"] = typed["contamination_reported"].astype("boolean")
    for instrument in _versioned(found):
        numbers = [versions.get(pk, {}).get(instrument) for pk in order]
        flags[version_column(instrument)] = pd.to_numeric(pd.Series(numbers, dtype=object))
    first = [c for c in OUTCOME_COLUMNS[4:] if c in typed]
    columns.update({name: typed[name] for name in first})
    columns.update({name: series for name, series in typed.items() if name not in columns})
    columns.update(flags)
    return pd.DataFrame(columns)


def _answer_rows(trial: Trial, cut_off: dt.date) -> Any:
    """One query over the answer store: every assessment by the cut-off of a participant
    randomised by then, by study id and visit, with its visit's contamination answer."""
    from instruments.models import Assessment as Answers

    return (
        Answers.objects.filter(
            instrument__trial=trial,
            visit__participant__allocation__allocated_on__lte=cut_off,
            assessed_on__lte=cut_off,
        )
        .order_by(
            "visit__participant__study_id",
            "visit__definition__offset_months",
            "visit__definition__code",
        )
        .values_list(
            "visit_id",
            "visit__participant__study_id",
            "visit__definition__code",
            "visit__definition__offset_months",
            "assessed_on",
            "instrument__code",
            "version__number",
            "values",
            "missing",
            "scores",
            "visit__contamination_reported",
        )
    )


def _typed_answers(
    found: list[Variable],
    order: list[int],
    values: dict[int, dict[str, Any]],
    codes: dict[int, dict[str, str]],
) -> tuple[dict[str, pd.Series], dict[str, pd.Series]]:
    """Each variable's column typed by its kind, and the ``<name>_missing`` columns of the
    variables where some missing-data code was used, in the rows' ``order``."""
    typed: dict[str, pd.Series] = {}
    flags: dict[str, pd.Series] = {}
    # One pass over the records into a frame (pandas reads a list of dicts in C), then one
    # typing per column: not one Python loop over the rows per variable.
    names = [variable.name for variable in found]
    empty: dict[str, Any] = {}
    given_frame = pd.DataFrame.from_records([values.get(pk, empty) for pk in order], columns=names)
    coded = {name for record in codes.values() for name in record}
    code_frame = pd.DataFrame.from_records(
        [codes.get(pk, empty) for pk in order], columns=sorted(coded)
    )
    for variable in found:
        name = variable.name
        column = given_frame[name].astype(object).where(given_frame[name].notna(), None)
        if variable.indicators:
            typed.update(choice_indicators(variable, column.tolist()))
        else:
            typed[name] = _typed(kind_of(variable), column.tolist())
        if name in coded:
            used = code_frame[name].astype(object).where(code_frame[name].notna(), "")
            if used.astype(bool).any():
                flags[f"{name}_missing"] = used.reset_index(drop=True).astype("str")
    return typed, flags


def choice_indicators(variable: Variable, answers: list[Any]) -> dict[str, pd.Series]:
    """A multiple-choice item's answers as its columns in the data sets, one per choice
    (``variable.indicators``: ``<name>___<code>``, REDCap's names), as nullable integers: 1
    where the choice was ticked, 0 where the item was answered without it (an answer of no
    choice at all gives 0 in every column), blank where the item was not answered (not asked,
    skipped, or given a missing-data code). ``answers``: the stored answers (lists of codes, or
    None), one per row. The one place a multiple choice becomes columns: the data sets, their
    dictionary and every file format follow from it."""
    ticked = [
        None
        if answer is None
        else {str(code) for code in (answer if isinstance(answer, list | tuple) else [answer])}
        for answer in answers
    ]
    return {
        indicator.column: pd.Series(
            [None if chosen is None else int(str(indicator.value) in chosen) for chosen in ticked],
            dtype="Int64",
        )
        for indicator in variable.indicators
    }


def version_column(instrument: str) -> str:
    """The column with the version of an instrument each row's answers were entered under."""
    return re.sub(r"[^a-z0-9_]", "_", instrument.lower()) + "_version"


def _versioned(found: list[Variable]) -> list[str]:
    """Instruments of ``found`` with more than one version, in the dictionary's order."""
    numbers: dict[str, set[int]] = {}
    for variable in found:
        numbers.setdefault(variable.instrument_code, set()).update(variable.versions or [])
    return [code for code, seen in numbers.items() if len(seen) > 1]


def _merge_row(
    keys: dict[int, list[Any]], visit_id: int, study_id: str, visit: str, offset: int, on: Any
) -> None:
    known = keys.get(visit_id)
    if known is None:
        keys[visit_id] = [study_id, visit, offset, on]
    elif on < known[3]:
        known[3] = on


def _typed(kind: str, raw: list[Any]) -> pd.Series:
    """A column of answers as the analyses read it (see :func:`answers`)."""
    series = pd.Series(raw, dtype=object)
    if kind == BINARY:
        return series.astype(bool) if series.notna().all() else series.astype("boolean")
    if kind in {"continuous", "score"}:
        return pd.to_numeric(series, errors="coerce").astype(float)
    if kind in NUMERIC_KINDS:
        return pd.to_numeric(series, errors="coerce")
    if kind == "date":
        return series.map(lambda v: dt.date.fromisoformat(v) if isinstance(v, str) and v else None)
    return series.map(lambda v: "" if v is None else str(v)).astype("str")


def missed(
    trial: Trial, cut_off: dt.date, assessed: set[tuple[str, str]] | None = None
) -> pd.DataFrame:
    """Scheduled visits of randomised participants with no assessment by ``cut_off``, and why:
    ``missed`` (marked missed, or its window closed without one), ``withdrawn`` (due after the
    withdrawal), ``lost`` (due after the participant was lost to follow-up) or ``not yet due``
    (window still open on the cut-off).

    ``assessed``: the (study id, visit) pairs with an assessment by the cut-off, as in the
    frame :func:`answers` returns (read from it when not given)."""
    if assessed is None:
        found = answers(trial, cut_off)
        assessed = set(zip(found["study_id"], found["visit"], strict=True))
    rows = (
        Visit.objects.filter(
            participant__trial=trial,
            participant__allocation__allocated_on__lte=cut_off,
        )
        .order_by("participant__study_id", "due_on")
        .values_list(
            "participant__study_id",
            "definition__code",
            "due_on",
            "window_end",
            "missed",
            "participant__withdrawal__withdrawn_on",
            "participant__loss_to_follow_up__lost_on",
        )
    )
    columns = ["study_id", "visit", "due_on", "window_end", "marked", "withdrawn_on", "lost_on"]
    frame = pd.DataFrame.from_records(list(rows), columns=columns)
    if frame.empty:
        return pd.DataFrame(columns=["study_id", "visit", "due_on", "reason"])
    done = pd.Series(
        [pair in assessed for pair in zip(frame["study_id"], frame["visit"], strict=True)],
        index=frame.index,
        dtype=bool,
    )
    frame = frame[~done].copy()
    withdrawn = frame["withdrawn_on"].map(lambda d: d is not None and d <= cut_off) & (
        frame["withdrawn_on"] < frame["due_on"]
    )
    lost = frame["lost_on"].map(lambda d: d is not None and d <= cut_off) & (
        frame["lost_on"] < frame["due_on"]
    )
    frame["reason"] = np.select(
        [frame["marked"].astype(bool), withdrawn, lost, frame["window_end"] >= cut_off],
        ["missed", "withdrawn", "lost", "not yet due"],
        default="missed",
    )
    return frame[["study_id", "visit", "due_on", "reason"]].reset_index(drop=True)


def exposure(trial: Trial, cut_off: dt.date, study_ids: pd.Series) -> pd.DataFrame:
    """Per participant: exposed to intervention-specific components by ``cut_off``, and when
    first; and ``contacted``: at least one contact logged by ``cut_off`` (what "received the
    allocated intervention" means in an intervention arm). Exposure is the contamination
    flag of ``fidelity.contamination.flags.participant_exposure``: received components, from a
    logged contact or said at a follow-up, first on or before ``cut_off``."""
    from fidelity.contamination.flags import participant_exposure
    from fidelity.models import Contact

    frame = participant_exposure(trial)[["study_id", "first_exposed_on"]].copy()
    first_on = pd.to_datetime(frame["first_exposed_on"])
    frame = frame[first_on.notna() & (first_on <= pd.Timestamp(cut_off))].copy()
    frame["first_exposed_on"] = pd.to_datetime(frame["first_exposed_on"]).dt.date
    first = dict(zip(frame["study_id"], frame["first_exposed_on"], strict=True))
    out = pd.DataFrame({"study_id": study_ids.to_numpy()})
    out["first_exposed_on"] = out["study_id"].map(first)
    out["first_exposed_on"] = (
        out["first_exposed_on"].astype(object).where(out["first_exposed_on"].notna(), None)
    )
    out["exposed"] = out["first_exposed_on"].notna()
    contacted = set(
        Contact.objects.filter(trial=trial, participant__isnull=False, contact_on__lte=cut_off)
        .order_by()
        .values_list("participant__study_id", flat=True)
        .distinct()
    )
    out["contacted"] = out["study_id"].isin(contacted)
    return out[["study_id", "exposed", "first_exposed_on", "contacted"]]


def time_to_work(people: pd.DataFrame, assessments: pd.DataFrame) -> pd.DataFrame:
    """Months from randomisation to the first assessment in paid work (event), or to the last
    assessment without it (censored). Participants with no assessment are left out: they were
    never observed after randomisation. Empty for a trial whose instruments do not ask about
    paid work (no ``in_paid_work``: time to work then comes from the registers, if at all)."""
    if people.empty or assessments.empty or "in_paid_work" not in assessments.columns:
        return pd.DataFrame(columns=["study_id", "months", "event"])
    observed = assessments.loc[assessments["in_paid_work"].notna()]
    merged = observed[["study_id", "assessed_on", "in_paid_work"]].merge(
        people[["study_id", "randomised_on"]], on="study_id"
    )
    merged = merged.sort_values(["study_id", "assessed_on"])
    merged["months"] = [
        max((a - r).days, 0) / DAYS_PER_MONTH
        for a, r in zip(merged["assessed_on"], merged["randomised_on"], strict=True)
    ]
    working = merged[merged["in_paid_work"].fillna(False).astype(bool)]
    working = working.groupby("study_id")["months"].min()
    last = merged.groupby("study_id")["months"].max()
    out = pd.DataFrame({"study_id": last.index})
    out["event"] = out["study_id"].isin(working.index)
    out["months"] = np.where(
        out["event"], out["study_id"].map(working), out["study_id"].map(last)
    ).astype(float)
    return out[["study_id", "months", "event"]].reset_index(drop=True)


def effect_data(trial: Trial, cut_off: dt.date) -> EffectData:
    """Everything the effect analysis reads, as it stood on ``cut_off``."""
    people = participants(trial, cut_off)
    found = dictionary_variables(trial)
    assessments = outcomes(trial, cut_off, found)
    assessed = set(zip(assessments["study_id"], assessments["visit"], strict=True))
    return EffectData(
        participants=people,
        outcomes=assessments,
        missed=missed(trial, cut_off, assessed),
        exposure=exposure(trial, cut_off, people["study_id"]),
        time_to_work=time_to_work(people, assessments),
        design=trial.design,
        kinds={v.name: kind_of(v) for v in found},
    )


def consort_frames(
    trial: Trial, cut_off: dt.date, data: EffectData, time_point: str | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The two frames :mod:`reports.analysis.consort` counts, as things stood on ``cut_off``.

    ``received`` is the allocated intervention as delivered: for an intervention arm at least
    one logged contact by the cut-off; for a control arm no exposure to intervention-specific
    components. ``analysed`` means the plan's primary time point was assessed (any assessment
    when there is no plan). Reasons are the coded ones (loss reason, withdrawal scope), never
    the free text, since the table goes into the pseudonymised ZIP.
    """

    screened = ScreeningRecord.objects.filter(trial=trial, screened_on__lte=cut_off).values_list(
        "eligible", "declined", "exclusion_reason__label", "participant__study_id"
    )
    screening = pd.DataFrame.from_records(
        list(screened), columns=["eligible", "declined", "exclusion_reason", "study_id"]
    )
    people = data.participants
    randomised_ids = set(people["study_id"])
    screening["randomised"] = screening["study_id"].isin(randomised_ids)
    lost = dict(
        LossToFollowUp.objects.filter(participant__trial=trial, lost_on__lte=cut_off).values_list(
            "participant__study_id", "reason"
        )
    )
    scopes = dict(
        Withdrawal.objects.filter(participant__trial=trial, withdrawn_on__lte=cut_off).values_list(
            "participant__study_id", "scope"
        )
    )
    contacted = set(data.exposure.loc[data.exposure["contacted"].astype(bool), "study_id"])
    exposed = set(data.exposure.loc[data.exposure["exposed"].astype(bool), "study_id"])
    outcomes = data.outcomes
    if time_point:
        outcomes = outcomes[outcomes["visit"] == time_point]
    analysed = set(outcomes["study_id"])
    ids = people["study_id"]
    withdrawn = people["withdrawn"].astype(bool)
    is_lost = ids.isin(lost.keys()) & ~withdrawn
    control = people["is_control"].astype(bool)
    flow = pd.DataFrame(
        {
            "study_id": ids,
            "arm": people["arm"],
            "arm_label": people["arm_label"],
            "site": people["site"],
            "status": np.where(withdrawn, "withdrawn", np.where(is_lost, "lost", "active")),
            "lost_reason": [
                str(LossToFollowUp.Reason(lost[i]).label) if gone else None
                for i, gone in zip(ids, is_lost, strict=True)
            ],
            "withdrawal_reason": [
                str(Withdrawal.Scope(scopes[i]).label) if gone and i in scopes else None
                for i, gone in zip(ids, withdrawn, strict=True)
            ],
            "received": np.where(control, ~ids.isin(exposed), ids.isin(contacted)),
            "analysed": ids.isin(analysed),
        }
    )
    return screening, flow


def register_spells(trial: Trial, cut_off: dt.date) -> pd.DataFrame:
    """The register spells as they stood at ``cut_off``, for the data snapshot hash: study id,
    state code, from, until and source of every spell that began by then, a spell still open
    at the cut-off (or ending after it) with no end, so a later end or a later spell does not
    change what the cut-off covers. Empty (no columns) for a trial without register data."""
    rows = Spell.objects.filter(trial=trial, starts_on__lte=cut_off).values_list(
        "participant__study_id", "state__code", "starts_on", "ends_on", "source"
    )
    frame = pd.DataFrame(list(rows), columns=["study_id", "state", "from", "until", "source"])
    if frame.empty:
        return pd.DataFrame()
    open_at_cut_off = frame["until"].isna() | (frame["until"] > cut_off)
    frame["until"] = frame["until"].where(~open_at_cut_off, None)
    return frame
