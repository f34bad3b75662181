"""effect_sections: every section present, bad input reported as problems, never NaN or raise."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from reports.analysis.effect import effect_sections
from reports.analysis.results import AnalysisPlan, EffectData, Section
from reports.analysis.synthetic import synthetic_effect_data

KEYS = [
    "primary",
    "secondary",
    "over_visits",
    "repeated",
    "time_to_work",
    "compliance",
    "missing",
    "subgroups",
]


def plan(**changes: object) -> AnalysisPlan:
    values: dict[str, object] = {
        "primary_outcome": "in_paid_work",
        "time_point": "m12",
        "secondary_outcomes": ["hours_per_week", "on_benefits"],
        "covariates": ["age", "site", "education"],
        "missing": "complete_case",
        "subgroups": ["women", "age"],
    }
    values.update(changes)
    return AnalysisPlan(**values)  # type: ignore[arg-type]


def cells(sections: list[Section]) -> list[object]:
    return [
        v
        for s in sections
        for t in [*s.tables, *(f.table for f in s.figures)]
        for v in t.frame.to_numpy().ravel()
    ]


def assert_no_nan(sections: list[Section]) -> None:
    bad = [v for v in cells(sections) if isinstance(v, float) and not math.isfinite(v)]
    assert not bad


def by_key(sections: list[Section]) -> dict[str, Section]:
    return {s.key: s for s in sections}


@pytest.mark.parametrize("design", ["individual", "cluster", "stepped_wedge"])
def test_every_section_is_built_for_each_design(design: str) -> None:
    sections = effect_sections(
        synthetic_effect_data(400, design, seed=2), plan(), seed=1, blinded=False
    )
    assert [s.key for s in sections] == KEYS
    assert_no_nan(sections)
    found = by_key(sections)
    assert not found["primary"].problems
    effect = found["primary"].tables[1].frame
    assert effect["Estimate"].notna().all()
    assert {f.key for s in sections for f in s.figures} == {
        "over_visits_figure",
        "time_to_work_figure",
        "subgroups_forest",
    }
    for figure in (f for s in sections for f in s.figures):
        assert figure.svg.lstrip().startswith("<?xml") and "<svg" in figure.svg
    keys = [t.key for s in sections for t in s.tables]
    assert len(keys) == len(set(keys))


def test_seeded_sections_are_reproducible() -> None:
    data = synthetic_effect_data(300, seed=4)
    first = by_key(effect_sections(data, plan(), seed=9, blinded=False))["missing"].tables[1].frame
    second = by_key(effect_sections(data, plan(), seed=9, blinded=False))["missing"].tables[1].frame
    pd.testing.assert_frame_equal(first, second)


def test_blinded_report_shows_arm_codes_and_withholds_the_cace() -> None:
    sections = effect_sections(synthetic_effect_data(300, seed=3), plan(), seed=1, blinded=True)
    text = " ".join(str(v) for v in cells(sections))
    assert "IPS" not in text and "Usual services" not in text
    assert "B vs A" in text
    compliance = by_key(sections)["compliance"]
    assert compliance.problems and not compliance.tables
    assert all("IPS" not in f.svg for s in sections for f in s.figures)


def test_outcome_without_data_is_a_problem_not_an_error() -> None:
    sections = effect_sections(
        synthetic_effect_data(200), plan(primary_outcome="no_such_outcome"), seed=1, blinded=False
    )
    primary = by_key(sections)["primary"]
    assert any("no_such_outcome" in p for p in primary.problems)
    assert_no_nan(sections)


def test_one_arm_empty_is_reported_in_every_section() -> None:
    data = synthetic_effect_data(200)
    data.participants = data.participants.loc[data.participants["arm"] == "A"]
    sections = effect_sections(data, plan(), seed=1, blinded=False)
    assert [s.key for s in sections] == KEYS
    assert all(any("Only one arm" in p for p in s.problems) for s in sections)


def test_all_outcomes_missing_is_reported() -> None:
    data = synthetic_effect_data(200)
    data.outcomes = data.outcomes.iloc[0:0]
    sections = effect_sections(data, plan(), seed=1, blinded=False)
    found = by_key(sections)
    assert found["primary"].problems and found["missing"].problems and found["over_visits"].problems
    assert found["missing"].tables[0].frame["Outcome observed"].sum() == 0
    assert_no_nan(sections)


def test_separation_gives_none_and_a_problem() -> None:
    data = synthetic_effect_data(200)
    arms = data.participants.set_index("study_id")["arm"]
    outcomes = data.outcomes.copy()
    outcomes["in_paid_work"] = outcomes["study_id"].map(arms).eq("B")
    data.outcomes = outcomes
    sections = effect_sections(data, plan(), seed=1, blinded=False)
    primary = by_key(sections)["primary"]
    effect = primary.tables[1].frame.set_index("Measure")
    assert effect.loc["adjusted odds ratio", "Estimate"] is None
    assert any("Separation" in p for p in primary.problems)
    assert_no_nan(sections)


def test_single_cluster_per_arm_is_reported() -> None:
    data = synthetic_effect_data(200, design="cluster", sites=2)
    sections = effect_sections(data, plan(), seed=1, blinded=False)
    primary = by_key(sections)["primary"]
    assert any("only one cluster" in p for p in primary.problems)
    assert_no_nan(sections)


def test_empty_data_does_not_raise() -> None:
    empty = EffectData(
        pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), "individual"
    )
    sections = effect_sections(empty, plan(), seed=1, blinded=False)
    assert [s.key for s in sections] == KEYS and all(s.problems for s in sections)


def _compliance(data: EffectData) -> tuple[pd.DataFrame, pd.DataFrame, Section]:
    section = by_key(effect_sections(data, plan(), seed=1, blinded=False))["compliance"]
    tables = {t.key: t for t in section.tables}
    return tables["contamination_by_arm"].frame, tables["compliance_effects"].frame, section


def test_treatment_received_is_contact_in_the_intervention_arm() -> None:
    """An intervention participant with no logged contact did not receive the intervention (as
    in the participant flow); the CACE is the ITT over the difference in the share treated."""
    data = synthetic_effect_data(400, seed=2)
    people = data.participants.set_index("study_id")
    intervention = ~people["is_control"].astype(bool)
    unreached = list(people.index[intervention][::5])  # every fifth never reached
    data.exposure.loc[data.exposure["study_id"].isin(unreached), "contacted"] = False
    rates, effects, section = _compliance(data)

    arm_rows = rates.set_index(rates.columns[0])
    treated = arm_rows[arm_rows.columns[-1]]  # "Treatment received"
    exposure = data.exposure.set_index("study_id")
    assert treated.loc[people.loc[intervention, "arm_label"].iloc[0]] == int(
        exposure.loc[intervention[intervention].index, "contacted"].sum()
    )
    assert treated.loc[people.loc[~intervention, "arm_label"].iloc[0]] == int(
        exposure.loc[intervention[~intervention].index, "exposed"].sum()
    )
    # Reference: the Wald ratio by hand, on participants with the outcome at m12.
    m12 = data.outcomes[data.outcomes["visit"] == "m12"].set_index("study_id")["in_paid_work"]
    frame = people.join(exposure).join(m12, how="inner")
    frame = frame[frame["in_paid_work"].notna()]
    z = (~frame["is_control"].astype(bool)).astype(int)
    d = (z * frame["contacted"] + (1 - z) * frame["exposed"]).astype(float)
    y = frame["in_paid_work"].astype(float)
    itt = y[z == 1].mean() - y[z == 0].mean()
    wald = itt / (d[z == 1].mean() - d[z == 0].mean())
    cace = effects[effects["Measure"] == "complier-average causal effect"]["Estimate"].iloc[0]
    assert cace == pytest.approx(wald, rel=1e-9)
    assert not any("No contact is logged" in n for t in section.tables for n in t.notes)


def test_an_arm_without_any_logged_contact_counts_as_treated_and_says_so() -> None:
    data = synthetic_effect_data(400, seed=2)
    data.exposure["contacted"] = False  # the trial does not use the contact log
    rates, _effects, section = _compliance(data)
    people = data.participants
    arm_rows = rates.set_index(rates.columns[0])
    intervention = people.loc[~people["is_control"].astype(bool)]
    name = intervention["arm_label"].iloc[0]
    assert arm_rows.loc[name, arm_rows.columns[-1]] == len(intervention)
    notes = [n for t in section.tables for n in t.notes if "No contact is logged" in n]
    assert len(notes) == 1 and name in notes[0]
