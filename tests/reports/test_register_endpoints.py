"""Register endpoints (reports.registers): named in the plan, refused with the reason when the
registers cannot give them, computed from the spells and analysed in the effect report."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from pathways import services as pathways
from pathways.models import Spell, SpellState
from reports import choices, pipeline, registers, services
from reports.models import AnalysisPlan
from tests.reports.conftest import CUT_OFF, PLAN, RANDOMISED_ON, ReportWorld, lock_plan
from trial.services import TrialError

URL = "/trials/ips/analysis-plan/"

# Work spells by participant index (R00–R11, randomised 2024-01-10; month 1 = January 2024).
# (start, end or None); months in work 0–12 counted by the priority rule (a month with a day
# of work is a work month).
WORK: dict[int, list[tuple[Any, Any]]] = {
    0: [(dt.date(2024, 3, 4), None)],  # months 3–18: 10 months in 0–12, event at 1.8 months
    1: [(dt.date(2023, 11, 1), dt.date(2024, 6, 30))],  # going on at randomisation: 6, t = 0
    2: [(dt.date(2024, 7, 1), dt.date(2024, 7, 31)), (dt.date(2024, 10, 1), None)],  # 1 + 3
    3: [(dt.date(2024, 12, 15), None)],  # month 12: 1
    6: [(dt.date(2024, 5, 20), dt.date(2024, 8, 10))],  # months 5–8: 4
    7: [(dt.date(2025, 2, 1), None)],  # month 14: 0 in 0–12
}
MONTHS_0_12 = {0: 10, 1: 6, 2: 4, 3: 1, 6: 4, 7: 0}


def add_spells(rw: ReportWorld) -> None:
    actor = rw.world.users["coordinator"]
    pathways.add_standard_alphabet(rw.trial, actor=actor)
    work = SpellState.objects.get(trial=rw.trial, code="work")
    aap = SpellState.objects.get(trial=rw.trial, code="aap")
    rows = []
    for index, person in enumerate(rw.people):
        for start, end in WORK.get(index, []):
            rows.append(
                Spell(
                    trial=rw.trial,
                    participant=person,
                    state=work,
                    starts_on=start,
                    ends_on=end,
                    source="A-ordningen",
                )
            )
        rows.append(
            Spell(
                trial=rw.trial,
                participant=person,
                state=aap,
                starts_on=dt.date(2023, 6, 1),
                ends_on=None,
                source="FD-Trygd",
            )
        )
    Spell.objects.bulk_create(rows)
    pathways.bump_version(rw.trial)


def test_endpoint_names() -> None:
    found = registers.parse("months_in_work_0_12")
    assert found == registers.Endpoint("months_in_work_0_12", registers.MONTHS_IN, "work", 0, 12)
    assert registers.parse("in_social_assistance_at_6") == registers.Endpoint(
        "in_social_assistance_at_6", registers.IN_STATE_AT, "social_assistance", end=6
    )
    assert registers.parse("time_to_first_work").family == registers.TIME_TO_FIRST  # type: ignore[union-attr]
    assert registers.parse("in_paid_work") is None and registers.parse("") is None


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"primary_outcome": "months_in_work_0_36"}, "primary_outcome", "beyond the 24 months"),
        ({"primary_outcome": "months_in_jobb_0_12"}, "primary_outcome", "does not have"),
        ({"primary_outcome": "months_in_work_12_12"}, "primary_outcome", "must end after"),
        ({"secondary_outcomes": ["in_work_at_25"]}, "secondary_outcomes", "outside the 24"),
        ({"secondary_outcomes": ["time_to_first_job"]}, "secondary_outcomes", "does not have"),
    ],
)
def test_plan_page_refuses_what_the_registers_cannot_give(
    rworld: ReportWorld, changes: dict[str, object], field: str, message: str
) -> None:
    add_spells(rworld)
    response = rworld.world.client("statistician").post(URL + "edit/", {**PLAN, **changes})
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert not AnalysisPlan.objects.exists()


def test_service_refuses_a_window_beyond_follow_up(rworld: ReportWorld) -> None:
    add_spells(rworld)
    with pytest.raises(TrialError) as error:
        services.check_plan(rworld.trial, {**PLAN, "primary_outcome": "months_in_work_12_30"})
    assert error.value.field == "primary_outcome"
    assert "month 30, beyond the 24 months of register follow-up" in error.value.message


def test_plan_offers_register_endpoints_and_takes_any_window(rworld: ReportWorld) -> None:
    add_spells(rworld)
    offered = dict(choices.outcome_choices(rworld.trial))
    assert "months_in_work_0_12" in offered and "months_in_work_12_24" in offered
    assert "in_work_at_12" in offered and "time_to_first_work" in offered
    assert "Months in work, months 1–12 (registers)" in offered["months_in_work_0_12"]
    client = rworld.world.client("statistician")
    response = client.post(
        URL + "edit/",
        {
            **PLAN,
            "primary_outcome": "months_in_work_3_9",
            "secondary_outcomes": ["time_to_first_work", "in_work_at_12"],
        },
    )
    assert response.status_code == 302
    plan = AnalysisPlan.objects.get()
    assert plan.primary_outcome == "months_in_work_3_9"
    page = client.get(URL).content.decode()
    assert "Months in work, months 4–9 (registers)" in page
    assert "Kaplan–Meier curves from register dates" in page


def test_endpoint_values_from_the_spells(rworld: ReportWorld) -> None:
    add_spells(rworld)
    found = registers.endpoint_data(
        rworld.trial,
        CUT_OFF,
        ["months_in_work_0_12", "months_in_work_12_24", "in_work_at_12", "time_to_first_work"],
    )
    assert found is not None
    values = found.values.set_index("study_id")
    for index in range(12):
        sid = f"R{index:02d}"
        assert values.loc[sid, "months_in_work_0_12"] == MONTHS_0_12.get(index, 0), sid
    # Months 13–24 are not all observed by the cut-off (2025-06-01: month 18).
    assert values["months_in_work_12_24"].isna().all()
    assert values.loc["R00", "in_work_at_12"] == 1 and values.loc["R01", "in_work_at_12"] == 0
    times = found.times["time_to_first_work"].set_index("study_id")
    days = (dt.date(2024, 3, 4) - RANDOMISED_ON).days
    assert times.loc["R00", "months"] == pytest.approx(days / registers.DAYS_PER_MONTH)
    assert bool(times.loc["R00", "event"])
    assert times.loc["R01", "months"] == 0 and bool(times.loc["R01", "event"])
    # Never in work: censored at the cut-off (before the end of the 24-month window).
    censored = (CUT_OFF - RANDOMISED_ON).days / registers.DAYS_PER_MONTH
    assert times.loc["R04", "months"] == pytest.approx(censored)
    assert not bool(times.loc["R04", "event"])


def test_spells_after_the_cut_off_are_left_out(rworld: ReportWorld) -> None:
    add_spells(rworld)
    found = registers.endpoint_data(
        rworld.trial, dt.date(2024, 6, 15), ["time_to_first_work", "in_work_at_12"]
    )
    assert found is not None
    times = found.times["time_to_first_work"].set_index("study_id")
    assert not bool(times.loc["R02", "event"])  # first work in July 2024
    assert found.values["in_work_at_12"].isna().all()  # month 12 not observed yet


def build(rw: ReportWorld, tmp_path: Path, **changes: object) -> pipeline.BuildResult:
    plan = lock_plan(rw, **changes)
    spec = pipeline.BuildSpec(
        trial=rw.trial,
        kind="effect",
        cut_off=CUT_OFF,
        seed=1,
        blinded=False,
        plan=plan,
        ordered_by="statistician",
    )
    return pipeline.build(spec, tmp_path)


def test_effect_report_with_a_register_primary_outcome(rworld: ReportWorld, tmp_path: Path) -> None:
    add_spells(rworld)
    result = build(
        rworld,
        tmp_path,
        primary_outcome="months_in_work_0_12",
        secondary_outcomes=["in_work_at_12", "time_to_first_work"],
    )
    sections = {s.key: s for s in result.sections}
    primary = sections["primary"]
    assert not primary.problems, primary.problems
    by_arm = primary.tables[0].frame
    # Arm A: R00–R05 = 10, 6, 4, 1, 0, 0; arm B: R06–R11 = 4, 0, 0, 0, 0, 0.
    assert list(by_arm["Mean"]) == pytest.approx([21 / 6, 4 / 6])
    effect = primary.tables[1].frame
    assert effect.loc[0, "Estimate"] == pytest.approx(21 / 6 - 4 / 6)
    assert "Months in a state" in " ".join(primary.tables[1].notes)
    secondary = sections["secondary"].tables[0].frame
    assert {"hazard ratio", "risk difference"} <= set(secondary["Measure"])
    ttw = sections["time_to_work"]
    assert "register dates" in ttw.text[0]
    km = ttw.tables[0].frame
    assert list(km["Events"]) == [4, 2]  # R00–R03 in arm A; R06, R07 in arm B
    assert "not imputed" in sections["missing"].text[0]
    assert "registers" in sections["over_visits"].text[0]
    assert "no outcome measured at the follow-up visits" in sections["repeated"].text[0]
    import zipfile

    with zipfile.ZipFile(result.zip) as archive:
        names = archive.namelist()
    assert "register_endpoints.csv" in names and "time_to_first_work.csv" in names


def test_register_time_to_event_as_the_primary_outcome(rworld: ReportWorld, tmp_path: Path) -> None:
    add_spells(rworld)
    result = build(rworld, tmp_path, primary_outcome="time_to_first_work", secondary_outcomes=[])
    sections = {s.key: s for s in result.sections}
    primary = sections["primary"]
    keys = [t.key for t in primary.tables]
    assert keys[:2] == ["primary_km", "primary_at_risk"]
    assert primary.figures and "register dates" in primary.text[1]
    # Six first jobs: too few for a log-rank test or a hazard ratio, and the report says so.
    assert any("fewer than the 10" in p for p in primary.problems)
    assert any("time to event" in p for p in sections["compliance"].problems)
    assert any("time to event" in p for p in sections["subgroups"].problems)


def test_endpoint_labels_in_bokmal(rworld: ReportWorld) -> None:
    from django.utils import translation

    add_spells(rworld)
    with translation.override("nb"):
        shown = registers.labels(
            rworld.trial, ["months_in_work_0_12", "in_aap_at_6", "time_to_first_work"]
        )
        assert shown == {
            "months_in_work_0_12": "Måneder i arbeid, måned 1–12 (registre)",
            "in_aap_at_6": "I arbeidsavklaringspenger i måned 6 (registre)",
            "time_to_first_work": "Tid til første arbeid (registre)",
        }
        fault = registers.fault(rworld.trial, "months_in_work_0_30")
    assert fault is not None and "etter de 24 månedene med registeroppfølging" in fault


def test_the_data_snapshot_covers_the_spells_as_they_stood_at_the_cut_off(
    rworld: ReportWorld,
) -> None:
    """A report on register endpoints records a hash that a change to the spells before the
    cut-off changes; what happened after the cut-off (a later spell, the end of a spell still
    open at the cut-off) does not."""
    before = pipeline.data_snapshot(rworld.trial, CUT_OFF)
    add_spells(rworld)
    with_spells = pipeline.data_snapshot(rworld.trial, CUT_OFF)
    assert with_spells != before

    work = SpellState.objects.get(trial=rworld.trial, code="work")
    Spell.objects.create(
        trial=rworld.trial,
        participant=rworld.people[4],
        state=work,
        source="A-ordningen",
        starts_on=CUT_OFF + dt.timedelta(days=1),
    )
    open_at_cut_off = Spell.objects.get(participant=rworld.people[0], state=work)
    open_at_cut_off.ends_on = CUT_OFF + dt.timedelta(days=30)
    open_at_cut_off.save()
    assert pipeline.data_snapshot(rworld.trial, CUT_OFF) == with_spells

    open_at_cut_off.ends_on = CUT_OFF - dt.timedelta(days=1)  # the register corrected: ended before
    open_at_cut_off.save()
    assert pipeline.data_snapshot(rworld.trial, CUT_OFF) != with_spells
