"""The plan and the reports on any item or score of a trial's own instruments.

A trial asks a PHQ-9-like instrument (nine items scored 0–3 and their sum, with a count of
sick days, a yes/no, an unordered choice, a date, a multiple choice and a free-text item) at
baseline (0 months) and 12 months. Forty participants are randomised 1:1 (arm A intervention,
B control); the intervention arm scores lower at 12 months.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import statsmodels.formula.api as smf
from django.utils import translation

from instruments.services import record_assessment
from instruments.setup.services import (
    revise_instrument,
)
from reports import choices, extract, pipeline, services, views
from reports.models import AnalysisPlan
from reports.sections.effect import effect_kind_sections
from tests.reports.phq import CUT_OFF, PHQ, PLAN, PhqWorld, answers, phq_definition
from trial.services import TrialError


def plan_values(**changes: Any) -> dict[str, Any]:
    return {**PLAN, **changes}


def locked_plan(phq: PhqWorld, **changes: Any) -> AnalysisPlan:
    statistician = phq.user("statistician")
    plan = services.save_plan_draft(phq.trial, values=plan_values(**changes), actor=statistician)
    return services.lock_plan(plan, actor=statistician)


def effect_tables(phq: PhqWorld, plan: AnalysisPlan) -> tuple[dict[str, Any], list[Any]]:
    data = extract.effect_data(phq.trial, CUT_OFF)
    inp = pipeline.ReportInput(
        trial=phq.trial,
        data=data,
        plan=pipeline.plan_spec(plan),
        seed=7,
        blinded=False,
        cut_off=CUT_OFF,
    )
    sections = effect_kind_sections(inp)
    return {t.key: t for s in sections for t in s.tables}, sections


# --- the plan ----------------------------------------------------------------------------------


def test_plan_offers_the_instruments_items_and_scores_by_kind(phq: PhqWorld) -> None:
    outcomes = dict(choices.outcome_choices(phq.trial))
    assert outcomes["phq9_total"] == "PHQ-9 total score (phq9_total)"
    assert {"phq1", "sick_days", "smoker", "in_paid_work", "self_rated_health"} <= set(outcomes)
    assert not {"comment", "living", "gp_visit", "support", "benefit_type"} & set(outcomes)
    covariates = dict(choices.covariate_choices(phq.trial))
    assert covariates["phq9_total@baseline"] == "PHQ-9 total score at baseline (phq9_total)"
    assert {"site", "stratum", "living@baseline", "sick_days@baseline"} <= set(covariates)
    assert "comment@baseline" not in covariates
    # The built-in instrument is not asked at the baseline visit here (only PHQ-9 is).
    assert "in_paid_work@baseline" not in covariates
    subgroups = dict(choices.subgroup_choices(phq.trial))
    assert {"site", "living@baseline", "smoker@baseline", "phq1@baseline"} <= set(subgroups)
    assert "phq9_total@baseline" not in subgroups  # a score is not a grouping


def test_plan_refuses_a_text_item_as_outcome_with_a_field_error(phq: PhqWorld) -> None:
    statistician = phq.user("statistician")
    with pytest.raises(TrialError) as error:
        services.save_plan_draft(
            phq.trial, values=plan_values(primary_outcome="comment"), actor=statistician
        )
    assert error.value.field == "primary_outcome"
    assert error.value.message.startswith("comment (free text) cannot be an outcome")
    with pytest.raises(TrialError) as error:
        services.save_plan_draft(
            phq.trial, values=plan_values(secondary_outcomes=["living"]), actor=statistician
        )
    assert error.value.field == "secondary_outcomes" and "categorical" in error.value.message
    with pytest.raises(TrialError) as error:
        services.save_plan_draft(
            phq.trial, values=plan_values(covariates=["comment@baseline"]), actor=statistician
        )
    assert error.value.field == "covariates"
    # The page offers no such choice and says so next to the field.
    client = phq.world.client("statistician")
    response = client.post(
        "/trials/ips/analysis-plan/edit/", plan_values(primary_outcome="comment")
    )
    assert response.status_code == 200
    assert "Select a valid choice" in " ".join(response.context["form"].errors["primary_outcome"])
    assert not AnalysisPlan.objects.exists()


def test_plan_page_says_which_model_each_outcome_gets(phq: PhqWorld) -> None:
    plan = locked_plan(phq)
    facts = dict(views.plan_facts(plan))
    assert facts["Primary outcome"] == "PHQ-9 total score (phq9_total)"
    assert facts["Adjusted for"] == (
        "PHQ-9 total score at baseline (phq9_total), Smokes at baseline (smoker)"
    )
    models = facts["Models by type of outcome"].splitlines()
    assert models[0].startswith("PHQ-9 total score (scale score): difference in means")
    assert models[1].startswith("Days on sick leave, last month (count): difference in means")
    assert "Poisson regression with robust (sandwich) standard errors" in models[1]
    assert "proportional-odds (ordered logistic) odds ratio" in models[2]
    page = phq.world.client("statistician").get("/trials/ips/analysis-plan/").content.decode()
    assert "Models by type of outcome" in page and "PHQ-9 total score (scale score)" in page


# --- extraction --------------------------------------------------------------------------------


def test_answers_are_one_wide_row_per_visit_with_scores_and_missing_codes(
    phq: PhqWorld, django_assert_max_num_queries: Any
) -> None:
    with django_assert_max_num_queries(7):  # the dictionary's reads, answers, old table
        frame = extract.answers(phq.trial, CUT_OFF)
    assert len(frame) == 79  # 40 baseline, 39 at 12 months
    assert list(frame.columns[:4]) == ["study_id", "visit", "offset_months", "assessed_on"]
    row = frame.set_index(["study_id", "visit"]).loc[("P00", "m12")]
    # phq3 was refused: blank, the code beside it, and the total prorated from eight items.
    assert pd.isna(row["phq3"]) and row["phq3_missing"] == "refused"
    answered = [int(row[name]) for name in PHQ if name != "phq3"]
    assert row["phq9_total"] == round(sum(answered) * 9 / 8)
    assert frame.loc[frame["study_id"] == "P01", "phq3_missing"].tolist() == ["", ""]
    assert frame["sick_days_missing"].tolist().count("dont_know") == 1
    assert frame["smoker"].dtype == bool
    assert frame["phq1"].dtype == "int64" and frame["sick_days"].dtype == "float64"
    assert frame["phq9_total"].dtype == "float64"
    assert set(frame["living"]) == {"alone", "partner"}
    assert row["gp_visit"] == dt.date(2023, 12, 1) and row["support___gp"] == 1
    assert row["support___nav"] in {0, 1} and "support" not in frame.columns
    assert "comment_missing" not in frame.columns and "phq9_version" not in frame.columns
    # The built-in instrument's columns are there, empty: nobody answered it.
    assert frame["in_paid_work"].isna().all() and frame["benefit_type"].eq("").all()


def test_answers_keep_the_version_they_were_entered_under(phq: PhqWorld) -> None:
    revise_instrument(
        phq.instrument,
        definition=phq_definition(extra=True),
        actor=phq.user("coordinator"),
        note="Exercise added",
    )
    visit = phq.people[39].visits.get(definition__code="m12")
    values = answers(random.Random(1), False, True) | {"exercise": True}  # noqa: S311
    record_assessment(
        visit,
        values={"assessed_on": dt.date(2025, 2, 1), **values},
        instrument=phq.instrument,
        actor=phq.user("coordinator"),
    )
    frame = extract.answers(phq.trial, CUT_OFF).set_index(["study_id", "visit"])
    assert frame["phq9_version"].value_counts().to_dict() == {1: 79, 2: 1}
    assert frame.loc[("P39", "m12"), "exercise"] is True or frame.loc[("P39", "m12"), "exercise"]
    assert frame["exercise"].isna().sum() == 79  # not asked under version 1


# --- the effect report -------------------------------------------------------------------------


def test_effect_report_on_a_scale_score_with_labels_from_the_dictionary(phq: PhqWorld) -> None:
    plan = locked_plan(phq)
    tables, sections = effect_tables(phq, plan)
    primary = tables["primary_effect"]
    assert primary.shown["Outcome"] == ["PHQ-9 total score", "PHQ-9 total score"]
    assert list(primary.frame["Measure"]) == [
        "difference in means",
        "adjusted difference in means",
    ]
    assert tables["primary_by_arm"].title == "PHQ-9 total score at 12 months by arm"
    # The ANCOVA is that of the extracted data: the 12-month total on arm, baseline total and
    # smoking at baseline (HC3), fitted here directly.
    data = extract.answers(phq.trial, CUT_OFF)
    base = data[data["visit"] == "m0"].set_index("study_id")
    m12 = data[data["visit"] == "m12"].set_index("study_id")
    frame = pd.DataFrame(
        {
            "y": m12["phq9_total"],
            "treat": [1 if int(s[1:]) < 20 else 0 for s in m12.index],
            "b": base["phq9_total"].reindex(m12.index),
            "s": base["smoker"].reindex(m12.index).astype(float),
        }
    )
    fit = smf.ols("y ~ treat + b + s", data=frame).fit(cov_type="HC3", use_t=True)
    adjusted = primary.frame.iloc[1]
    assert adjusted["Estimate"] == pytest.approx(fit.params["treat"], rel=1e-9)
    assert adjusted["95% CI lower"] == pytest.approx(fit.conf_int().loc["treat", 0], rel=1e-9)
    assert adjusted["Estimate"] < 0  # the intervention arm scores lower
    assert (adjusted["n analysed (arm)"], adjusted["n analysed (reference)"]) == (20, 19)
    # Secondary: a count gets a rate ratio, an ordinal item a proportional-odds odds ratio.
    secondary = tables["secondary_effects"]
    measures = dict(zip(secondary.frame["Measure"], secondary.shown["Outcome"], strict=True))
    assert measures["adjusted rate ratio"] == "Days on sick leave, last month"
    assert measures["adjusted proportional-odds odds ratio"] == "PHQ-9 item 1"
    assert any("Poisson regression" in n for n in secondary.notes)
    assert any("proportional-odds" in n for n in secondary.notes)
    # The subgroups are the answers of the baseline choice, shown by their labels.
    subgroups = tables["subgroups"]
    assert set(subgroups.shown["Level"]) == {"Alone", "With a partner"}
    assert set(subgroups.shown["Subgroup"]) == {"Lives at baseline"}
    assert not [p for s in sections for p in s.problems if "not estimated" in p]


def test_effect_report_labels_follow_the_language(phq: PhqWorld) -> None:
    plan = locked_plan(phq)
    with translation.override("nb"):
        tables, _sections = effect_tables(phq, plan)
    assert tables["primary_effect"].shown["Utfall"][0] == "PHQ-9 totalskår"


# --- the ZIP -----------------------------------------------------------------------------------


def test_zip_dictionary_labels_every_variable_with_value_labels_and_version(
    phq: PhqWorld, tmp_path: Path
) -> None:
    plan = locked_plan(phq)
    spec = pipeline.BuildSpec(
        trial=phq.trial, kind="data", cut_off=CUT_OFF, seed=1, blinded=False, plan=plan
    )
    result = pipeline.build(spec, tmp_path)
    with zipfile.ZipFile(result.zip) as archive:
        dictionary = pd.read_csv(io.BytesIO(archive.read("data_dictionary.csv")), dtype=str)
        stata = archive.read("outcomes.dta")
    dictionary = dictionary.fillna("")
    assert not dictionary.loc[dictionary["label"] == "", "column"].tolist()
    rows = dictionary[dictionary["data_set"] == "outcomes"].set_index("column")
    assert rows.loc["phq9_total", "label"] == "PHQ-9 total score"
    assert rows.loc["phq9_total", "label_nb"] == "PHQ-9 totalskår"
    assert rows.loc["phq9_total", "kind"] == "score"
    assert rows.loc["phq1", "value_labels"] == (
        "0 = Not at all; 1 = Several days; 2 = More than half the days; 3 = Nearly every day"
    )
    assert rows.loc["phq1", "instrument"] == "phq9: PHQ-9 and work"
    assert rows.loc["phq1", "versions"] == "1"
    assert (
        rows.loc["phq1", "missing_codes"] == "refused = Refused to answer; dont_know = Don't know"
    )
    assert rows.loc["smoker", "value_labels"] == "True = Yes; False = No"
    assert (
        rows.loc["living", "value_labels"]
        == "alone = Alone (.dta: 1); partner = With a partner (.dta: 2)"
    )
    assert rows.loc["sick_days", "unit"] == "days" and rows.loc["sick_days", "kind"] == "count"
    assert rows.loc["phq3_missing", "value_labels"].startswith("refused = Refused to answer")
    assert rows.loc["comment", "kind"] == "text" and rows.loc["comment", "label"] == "Comment"
    assert rows.loc["in_paid_work", "instrument"] == "employment: Employment and benefits"
    # Stata: every column labelled, value labels on yes/no and choices, text codes numbered.
    with pd.io.stata.StataReader(io.BytesIO(stata)) as reader:
        data = reader.read(convert_categoricals=False)
        labels = reader.variable_labels()
        values = reader.value_labels()
    assert labels["phq9_total"] == "PHQ-9 total score" and all(labels.values())
    assert values["phq1"] == {
        0: "Not at all",
        1: "Several days",
        2: "More than half the days",
        3: "Nearly every day",
    }
    assert values["smoker"] == {0: "No", 1: "Yes"}
    assert values["living"] == {1: "Alone", 2: "With a partner"}
    assert set(data["living"].dropna()) == {1, 2}
