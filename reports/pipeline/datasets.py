"""The data sets a report's ZIP holds and what the data dictionary says about their columns;
the register endpoints the plan names, added to the extracted data."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from instruments import builtin
from instruments.definition import Text
from instruments.models import Instrument
from reports import extract, registers, render
from reports import variables as dictionary
from reports.analysis.results import EffectData
from reports.models import AnalysisPlan
from trial.models import Trial

# Labels of the columns that are not variables of the trial's instruments (those are labelled
# from the data dictionary, see export_columns).
COLUMN_LABELS = {
    "study_id": "Pseudonymous study id",
    "arm": "Randomised arm (code)",
    "arm_label": "Randomised arm (name; the code when blinded)",
    "is_control": "Arm is the control / usual-services arm",
    "site": "Site (NAV office) code",
    "randomised_on": "Date of randomisation",
    "stratum": "Randomisation stratum",
    "withdrawn": "Withdrawn by the data cut-off",
    "withdrawn_on": "Date of withdrawal",
    "visit": "Follow-up visit code",
    "offset_months": "Months after randomisation the visit is scheduled",
    "assessed_on": "Date of the assessment (the visit's first, when several instruments)",
    "in_paid_work": "In paid work",
    "hours_per_week": "Hours of paid work per week",
    "monthly_earnings": "Monthly earnings (NOK)",
    "on_benefits": "On benefits",
    "self_rated_health": "Self-rated health (1 poor – 5 excellent)",
    "benefit_type": "Benefit type",
    "occupation_code": "Occupation (STYRK-08)",
    "contamination_reported": "Answered yes to the contamination question",
    "due_on": "Date the visit was due",
    "reason": "Why there is no assessment (missed / withdrawn / lost / not yet due)",
    "exposed": "Received intervention-specific components (contamination)",
    "first_exposed_on": "Date of the first exposure",
    "contacted": "At least one contact logged by the cut-off",
    "months": "Months from randomisation to first paid work, or to the last assessment",
    "event": "First paid work observed (1) or censored (0)",
}


def add_register_endpoints(
    data: EffectData, trial: Trial, cut_off: dt.date, plan: AnalysisPlan
) -> None:
    """Put the register endpoints the plan names (primary and secondary) into ``data``, with
    their kinds and labels (see :mod:`reports.registers`)."""
    names = [plan.primary_outcome, *plan.secondary_outcomes]
    found = registers.endpoint_data(trial, cut_off, names)
    if found is None:
        return
    randomised = set(data.participants["study_id"]) if not data.participants.empty else set()
    data.registers = found.values.loc[found.values["study_id"].isin(randomised)].reset_index(
        drop=True
    )
    data.register_times = {
        name: times.loc[times["study_id"].isin(randomised)].reset_index(drop=True)
        for name, times in found.times.items()
    }
    data.labels.update(found.labels)
    for name in names:
        endpoint = registers.parse(name)
        if endpoint is not None:
            data.kinds[name] = endpoint.kind


def export_frames(data: EffectData, blinded: bool) -> dict[str, pd.DataFrame]:
    """The data sets for the ZIP. Blinded: no arm names, no control flag and no exposure set
    (only control participants can be exposed, so it would reveal the control arm)."""
    participants = data.participants.copy()
    if blinded:
        participants = participants.drop(columns=["arm_label", "is_control"], errors="ignore")
    frames = {
        "participants": participants,
        "outcomes": data.outcomes,
        "missed_visits": data.missed,
        "time_to_work": data.time_to_work,
    }
    if not blinded:
        frames["exposure"] = data.exposure
    if data.registers is not None and len(data.registers.columns) > 1:
        frames["register_endpoints"] = data.registers
    for name, times in data.register_times.items():
        frames[name] = times
    return frames


def _english(text: Text) -> str:
    return text.en or text.nb


def _yes_no(variable: dictionary.Variable | None = None) -> dict[str, str]:
    """Value labels of a yes/no column as the CSV writes it (True/False)."""
    labels = {"True": "Yes", "False": "No"}
    for code, text in (variable.value_labels if variable else {}).items():
        key = {"1": "True", "true": "True", "yes": "True", "0": "False", "false": "False"}
        if str(code).lower() in key:
            labels[key[str(code).lower()]] = _english(text)
    return labels


def _pairs(labels: dict[str, Text]) -> str:
    return "; ".join(f"{code} = {_english(text)}" for code, text in labels.items())


INDICATOR_VALUES = {"0": "Not chosen", "1": "Chosen"}
"""Value labels of a multiple-choice item's column per choice (blank: the item not answered)."""


def _indicator_info(
    variable: dictionary.Variable, indicator: dictionary.Indicator, names: dict[str, str]
) -> render.ColumnInfo:
    """What the dictionary says about one choice's column of a multiple-choice item."""
    instrument = variable.instrument_code
    item_nb, choice_nb = variable.label.nb or variable.label.en, indicator.label.nb
    return render.ColumnInfo(
        label=f"{_english(variable.label) or variable.name}: "
        f"{_english(indicator.label) or indicator.code}",
        label_nb=f"{item_nb}: {choice_nb or indicator.label.en or indicator.code}"
        if item_nb
        else "",
        values=dict(INDICATOR_VALUES),
        instrument=f"{instrument}: {names.get(instrument, instrument)}",
        versions=", ".join(str(n) for n in variable.versions),
        kind=dictionary.BINARY,
        missing_codes=f"blank = {variable.name} not answered"
        + (
            f" (a missing-data code given is in {variable.name}_missing)"
            if variable.missing_codes
            else ""
        ),
    )


def export_columns(
    trial: Trial, found: list[dictionary.Variable], data_sets: dict[str, pd.DataFrame]
) -> dict[str, dict[str, render.ColumnInfo]]:
    """What the data dictionary and the Stata files say about each column of the data sets:
    every instrument variable labelled from the trial's data dictionary (English and bokmål),
    with its value labels (yes/no and choices), instrument, versions, kind, unit and
    missing-data codes; its ``<name>_missing`` column with the codes' labels; each
    ``<instrument>_version`` column; the baseline covariates with their labels and choices;
    the other columns from :data:`COLUMN_LABELS`. A multiple-choice item's 0/1 column per
    choice is labelled "<item>: <choice>" with 0 = not chosen and 1 = chosen."""
    names = dict(Instrument.objects.filter(trial=trial).values_list("code", "name_en"))
    names.setdefault(builtin.EMPLOYMENT, str(builtin.BUILTIN[builtin.EMPLOYMENT]["name_en"]))
    by_name = {v.name: v for v in found}
    indicators = {i.column: (v, i) for v in found for i in v.indicators}
    covariates = {c.key: c for c in trial.covariates.all()}
    out: dict[str, dict[str, render.ColumnInfo]] = {}
    for data_set, frame in data_sets.items():
        info: dict[str, render.ColumnInfo] = {}
        answers = data_set == "outcomes"  # the data set of the instruments' answers
        for column in map(str, frame.columns):
            variable = by_name.get(column) if answers else None
            base = column.removesuffix("_missing")
            if variable is not None:
                kind = dictionary.kind_of(variable)
                instrument = variable.instrument_code
                info[column] = render.ColumnInfo(
                    label=_english(variable.label) or column,
                    label_nb=variable.label.nb,
                    values=_yes_no(variable)
                    if kind == dictionary.BINARY
                    else {str(c): _english(t) for c, t in variable.value_labels.items()},
                    instrument=f"{instrument}: {names.get(instrument, instrument)}",
                    versions=", ".join(str(n) for n in variable.versions),
                    kind=kind,
                    unit=variable.unit,
                    missing_codes=_pairs(dictionary.missing_labels(variable)),
                    missing={
                        code: _english(text)
                        for code, text in dictionary.missing_labels(variable).items()
                    },
                )
            elif answers and column in indicators:
                info[column] = _indicator_info(*indicators[column], names)
            elif answers and base != column and base in by_name:
                variable = by_name[base]
                codes = dictionary.missing_labels(variable)
                info[column] = render.ColumnInfo(
                    label=f"Missing-data code given for {base}",
                    label_nb=f"Kode for manglende svar på {base}",
                    values={code: _english(text) for code, text in codes.items()},
                    instrument=f"{variable.instrument_code}: "
                    f"{names.get(variable.instrument_code, variable.instrument_code)}",
                    kind="missing code",
                )
            elif answers and column.endswith("_version"):
                code = next((c for c in names if extract.version_column(c) == column), column[:-8])
                info[column] = render.ColumnInfo(
                    label=f"Version of the {names.get(code, code)} instrument the row's "
                    "answers were entered under",
                    instrument=f"{code}: {names.get(code, code)}",
                )
            elif column in covariates and data_set == "participants":
                covariate = covariates[column]
                values = (
                    {"True": "Yes", "False": "No"}
                    if covariate.kind == "boolean"
                    else {str(v): str(t) for v, t in covariate.choices}
                )
                info[column] = render.ColumnInfo(
                    label=covariate.label, values=values, kind=f"baseline {covariate.kind}"
                )
            elif column == "contamination_reported":
                info[column] = render.ColumnInfo(
                    label=COLUMN_LABELS[column], values={"True": "Yes", "False": "No"}
                )
            elif column in COLUMN_LABELS:
                info[column] = render.ColumnInfo(label=COLUMN_LABELS[column])
        out[data_set] = info
    return out
