"""Effect sections of cluster and stepped-wedge trials print no cluster-naive interval; numbers
and p-values are honest; imputation and time to work only where the data support them."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from django.utils import translation

from reports.analysis import survival
from reports.analysis.effect import (
    Context,
    auxiliary_visits,
    effect_sections,
    missing_section,
    prepare,
    time_to_work_section,
)
from reports.analysis.figures import km_svg
from reports.analysis.results import AnalysisPlan, EffectData, Section, Table
from reports.analysis.sequences_report import sequence_sections
from reports.analysis.synthetic import synthetic_effect_data
from reports.analysis.text import p_value
from reports.render import format_cell, table_view
from trial.charts import PALETTE

PLAN = AnalysisPlan(
    primary_outcome="in_paid_work",
    time_point="m12",
    secondary_outcomes=["hours_per_week"],
    covariates=["age", "women", "in_paid_work@baseline"],
    missing="complete_case",
    subgroups=["women"],
)
# The standard errors a cluster or stepped-wedge report may print beside an interval.
CLUSTER_AWARE = {
    "Mancl–DeRouen bias-reduced, cluster-robust",
    "CR2 bias-reduced, cluster-robust",
    "CR2 bias-reduced, cluster-robust, pooled by Rubin's rules",
    "Lin–Wei cluster-robust",
}


def naive_intervals(sections: list[Section]) -> list[str]:
    """Where ``sections`` print an interval or a test that ignores clustering, as
    "table: why"; empty for a cluster-correct report."""
    found = []
    for section in sections:
        for table in section.tables + [f.table for f in section.figures]:
            frame = table.frame
            if "Log-rank chi-square" in frame.columns:
                found.append(f"{table.key}: log-rank test ignoring clustering")
            if "95% CI lower" not in frame.columns:
                continue
            with_interval = frame.loc[frame["95% CI lower"].notna()]
            if "Standard error" in frame.columns:
                for _index, row in with_interval.iterrows():
                    if row["Standard error"] not in CLUSTER_AWARE or not str(
                        row["Reference distribution"]
                    ).startswith("t, "):
                        found.append(f"{table.key}: {row['Measure']} ({row['Standard error']})")
            elif table.key == "primary_by_arm":
                if not any("CR2 cluster-robust" in note for note in table.notes):
                    found.append(f"{table.key}: proportions' intervals ignore clustering")
            elif table.key == "subgroups":
                if not any("CR2 cluster-robust" in note for note in table.notes):
                    found.append(f"{table.key}: subgroup intervals ignore clustering")
            elif not with_interval.empty:
                found.append(f"{table.key}: an interval of unknown kind")
    return found


@pytest.mark.parametrize("design", ["cluster", "stepped_wedge"])
def test_no_section_of_a_cluster_trial_prints_a_cluster_naive_interval(design: str) -> None:
    data = synthetic_effect_data(900, design=design, sites=12, seed=4)
    sections = effect_sections(data, PLAN, seed=1, blinded=False)
    assert naive_intervals(sections) == []
    by_key = {s.key: s for s in sections}
    for key in ("primary", "secondary", "time_to_work", "compliance", "missing", "subgroups"):
        assert by_key[key].tables, key
        assert not any("could not be computed" in p for p in by_key[key].problems), key
    # Every section has cluster-aware estimates, not just no naive ones.
    tables = {t.key: t for s in sections for t in s.tables}
    for key in ("primary_effect", "time_to_work_cox", "compliance_effects", "missing_sensitivity"):
        frame = tables[key].frame
        assert frame["Estimate"].notna().all(), key
        assert set(frame["Standard error"]) <= CLUSTER_AWARE, key
    assert "Robust score statistic (F)" in tables["time_to_work_logrank"].frame.columns
    km = tables["time_to_work_km"].frame
    assert km["95% CI lower"].isna().all() and km["95% CI upper"].isna().all()
    assert any("ignores clustering" in n for n in tables["time_to_work_km"].notes)
    # The same check finds the naive intervals of an individually randomised trial's report.
    individual = synthetic_effect_data(900, design="individual", sites=12, seed=4)
    assert naive_intervals(effect_sections(individual, PLAN, seed=1, blinded=False))


def test_too_few_clusters_print_no_interval_and_say_why() -> None:
    # One site per arm: no valid cluster-aware interval exists anywhere.
    data = synthetic_effect_data(300, design="cluster", sites=2, seed=2)
    sections = effect_sections(data, PLAN, seed=1, blinded=False)
    assert naive_intervals(sections) == []
    for section in sections:
        for table in section.tables:
            if "95% CI lower" in table.frame.columns:
                assert table.frame["95% CI lower"].isna().all(), table.key
    by_key = {s.key: s for s in sections}
    for key in ("primary", "compliance", "missing", "time_to_work"):
        assert any("only one cluster" in p for p in by_key[key].problems), key


def test_the_pdf_states_each_models_covariates_se_reference_and_sidedness() -> None:
    data = synthetic_effect_data(900, design="cluster", sites=12, seed=4)
    sections = effect_sections(data, PLAN, seed=1, blinded=False)
    primary = next(t for s in sections for t in s.tables if t.key == "primary_effect")
    view = table_view(primary)
    assert "Standard error" not in view["columns"]  # stated under the table instead
    notes = " ".join(view["notes"])
    assert "adjusted for age, women, in paid work at baseline" in notes
    assert "standard error: Mancl–DeRouen bias-reduced, cluster-robust" in notes
    assert "reference distribution: t, 10 df" in notes  # 12 sites
    assert "p-values are two-sided" in notes


def test_a_tiny_p_value_is_a_number_and_prints_as_less_than_0_001() -> None:
    # A log-rank chi-square of about 180: 1 - cdf is exactly 0, the survival function is not.
    time = pd.Series([1.0 + i % 7 for i in range(200)] + [30.0 + i % 5 for i in range(200)])
    group = pd.Series([1] * 200 + [0] * 200)
    statistic, p = survival.logrank(time, pd.Series([1] * 400), group)
    assert statistic is not None and statistic > 100
    assert p is not None and 0 < p < 1e-30
    assert format_cell(p, "p") == "< 0.001"
    assert format_cell(0.0, "p") == p_value(0.0) == "< 0.001"
    assert format_cell(0.0004, "p") != "0.000"
    with translation.override("nb"):
        assert format_cell(p, "p") == "< 0,001"
        assert format_cell(0.8071, "p") == "0,807"


def test_numbers_follow_the_readers_language() -> None:
    assert format_cell(4094.921, "number") == "4,094.92"
    assert format_cell(9242, "number") == "9,242"
    with translation.override("nb"):
        # Space (no-break) as thousands separator, comma for decimals, for every number.
        assert format_cell(4094.921, "number") == "4\u00a0094,92"
        assert format_cell(9242, "number") == "9\u00a0242"
        assert format_cell(True, "number") == "ja"


def not_yet_due_at_m12(data: EffectData, study_ids: list[str]) -> EffectData:
    """``data`` with the m12 and m18 visits of ``study_ids`` not yet due on the cut-off."""
    later = data.outcomes["visit"].isin(["m12", "m18"]) & data.outcomes["study_id"].isin(study_ids)
    rows = [
        {"study_id": s, "visit": v, "reason": "not yet due"}
        for s in study_ids
        for v in ("m12", "m18")
    ]
    data.outcomes = data.outcomes.loc[~later].reset_index(drop=True)
    kept = data.missed.loc[~data.missed["study_id"].isin(study_ids)]
    data.missed = pd.concat([kept, pd.DataFrame(rows)], ignore_index=True)
    return data


def test_multiple_imputation_imputes_only_visits_that_were_due() -> None:
    data = synthetic_effect_data(400, design="individual", seed=5)
    late = list(data.participants["study_id"].iloc[-60:])
    context = prepare(not_yet_due_at_m12(data, late), PLAN, seed=3, blinded=False)
    section = missing_section(context)
    (table,) = [t for t in section.tables if t.key == "missing_sensitivity"]
    imputed = table.frame.loc[table.frame["Measure"] == "difference (multiple imputation)"]
    analysed = int(imputed["n analysed (arm)"].iloc[0] + imputed["n analysed (reference)"].iloc[0])
    assert analysed == 400 - 60  # the 60 whose m12 was not yet due are not imputed
    assert any("60 participants whose visit was not yet due" in t for t in section.text)
    # The imputation uses earlier visits only: m18 (not yet due for some) is never imputed.
    wide = auxiliary_visits(context, "in_paid_work")
    assert wide is not None
    assert set(wide.columns) == {"study_id", "in_paid_work_at_m0", "in_paid_work_at_m6"}


def with_visits(data: EffectData, visits: list[str]) -> EffectData:
    data.outcomes = data.outcomes.loc[data.outcomes["visit"].isin(visits)].reset_index(drop=True)
    return data


def test_time_to_work_is_not_estimated_from_a_single_follow_up_visit() -> None:
    data = with_visits(synthetic_effect_data(400, seed=6), ["m0", "m12"])
    section = time_to_work_section(prepare(data, PLAN, seed=1, blinded=False))
    assert section.tables == [] and section.figures == []
    assert any("only 1 follow-up visit" in p for p in section.problems)


def test_time_to_work_has_no_hazard_ratio_with_too_few_events() -> None:
    data = synthetic_effect_data(400, seed=6)
    data.time_to_work["event"] = False
    data.time_to_work.loc[data.time_to_work.index[:6], "event"] = True
    section = time_to_work_section(prepare(data, PLAN, seed=1, blinded=False))
    assert {t.key for t in section.tables} == {"time_to_work_km", "time_to_work_at_risk"}
    assert any("6 participants were seen in paid work" in p for p in section.problems)


def arm_order(table: Table) -> list[str]:
    column = "Arm" if "Arm" in table.frame.columns else table.frame.columns[0]
    if table.group == "Arm":
        return [r["group"] for r in table_view(table)["rows"] if "group" in r]
    return list(dict.fromkeys(table.frame[column]))


def test_arms_keep_the_trials_order_whichever_is_the_reference() -> None:
    # The control arm has the later code: every table still lists A (intervention) first.
    data = synthetic_effect_data(600, seed=7)
    people = data.participants
    people["arm"] = people["arm"].map({"A": "B", "B": "A"})
    sections = effect_sections(data, PLAN, seed=1, blinded=False)
    tables = {t.key: t for s in sections for t in s.tables}
    for key in (
        "primary_by_arm",
        "over_visits",
        "time_to_work_km",
        "time_to_work_at_risk",
        "contamination_by_arm",
        "missing_by_arm",
    ):
        assert arm_order(tables[key]) == ["IPS", "Usual services"], key


def test_figures_use_the_pages_palette_and_the_alphabets_state_colours() -> None:
    data = synthetic_effect_data(300, seed=8)
    context: Context = prepare(data, PLAN, seed=1, blinded=False)
    curves = {
        context.labels[a]: survival.kaplan_meier(
            data.time_to_work["months"][data.participants["arm"] == a],
            data.time_to_work["event"][data.participants["arm"] == a],
        )
        for a in context.arms
    }
    svg = km_svg(curves, {k: [1, 1, 1] for k in curves}, [0.0, 6.0, 12.0], "x", "y", "z")
    assert PALETTE[0].lower() in svg and PALETTE[1].lower() in svg
    sequences = pd.DataFrame([[0, 0, 1, 1], [1, 1, 1, 0], [0, 1, 0, 1], [1, 0, 0, 0]] * 3)
    sections = sequence_sections(
        sequences.to_numpy(),
        ["work", "aap"],
        {"work": "Work", "aap": "AAP"},
        pd.Series(["A", "B"] * 6),
        2,
        1,
        colours={"work": "#2e7d32", "aap": "#ef8f00"},
    )
    distribution = next(f for f in sections[0].figures if f.key == "pathways_distribution")
    assert "#2e7d32" in distribution.svg and "#ef8f00" in distribution.svg


def test_pathways_of_a_cluster_trial_have_cluster_robust_intervals_and_no_naive_test() -> None:
    rows = [[0, 0, 1, 1], [1, 1, 1, 0], [0, 1, 0, 1], [1, 0, 0, 0], [0, 0, 0, 1], [1, 1, 0, 0]]
    sequences = pd.DataFrame(rows * 8).to_numpy()
    arms = pd.Series(["A"] * 24 + ["B"] * 24)
    sites = pd.Series([f"S{i % 4 + (4 if i >= 24 else 0)}" for i in range(48)])
    sections = sequence_sections(
        sequences, ["work", "aap"], {"work": "Work", "aap": "AAP"}, arms, 2, 1, clusters=sites
    )
    mean_time = next(t for t in sections[0].tables if t.key == "pathways_mean_time")
    assert any("CR2 cluster-robust" in n for n in mean_time.notes)
    by_arm = next(t for t in sections[1].tables if t.key == "pathway_types_by_arm")
    assert any("No test of types by arm" in n for n in by_arm.notes)
    assert not any("Chi-square" in n for n in by_arm.notes)


def test_a_norwegian_report_prints_p_values_as_p_values() -> None:
    # Translated, the p-value column is "p-verdi", which the English header patterns missed:
    # its values were printed as estimates ("0,00").
    data = synthetic_effect_data(900, design="cluster", sites=12, seed=4)
    with translation.override("nb"):
        sections = effect_sections(data, PLAN, seed=1, blinded=False)
        views = [table_view(t) for s in sections for t in s.tables]
    checked = 0
    for view in views:
        for column in ("p-verdi", "p for interaksjon"):
            if column not in view["columns"]:
                continue
            index = view["columns"].index(column)
            for row in view["rows"]:
                if "cells" in row and row["cells"][index]["text"]:
                    assert re.fullmatch(r"< 0,001|[01],\d{3}|–", row["cells"][index]["text"])
                    checked += 1
    assert checked >= 10
    assert format_cell(-1234.5, "number") == "\u22121,234.50"
