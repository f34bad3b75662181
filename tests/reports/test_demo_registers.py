"""The demo's plan has a register endpoint as its primary outcome, and the curves of time to
first paid work follow register dates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from demo.seed import seed_demo
from reports import extract, pipeline
from reports.analysis import survival


@pytest.mark.django_db
def test_demo_report_has_a_register_primary_outcome(tmp_path: Path) -> None:
    as_of = dt.date(2026, 6, 30)
    trial = seed_demo(participants=150, seed=7, as_of=as_of).trial
    plan = pipeline.plan_in_force(trial)
    assert plan is not None and plan.status == "locked"
    assert plan.primary_outcome == "months_in_work_0_12"
    spec = pipeline.BuildSpec(
        trial=trial,
        kind="effect",
        cut_off=as_of,
        seed=1,
        blinded=False,
        plan=plan,
        ordered_by="statistician",
    )
    result = pipeline.build(spec, tmp_path)
    sections = {s.key: s for s in result.sections}
    primary = sections["primary"]
    assert "from the register spells" in primary.text[0]
    effect = primary.tables[1].frame
    assert effect.loc[0, "Measure"] == "difference in means"
    assert effect["Estimate"].notna().all()
    # The demo's intervention arm reaches work about twice as often each month.
    assert effect.loc[0, "Estimate"] > 0
    ttw = sections["time_to_work"]
    assert "register dates" in ttw.text[0]
    # The curves step on the days spells start, not at the visits (months 6, 12, 18, 24).
    data = extract.effect_data(trial, as_of)
    pipeline.add_register_endpoints(data, trial, as_of, plan)
    times = data.register_times["time_to_first_work"]
    curve = survival.kaplan_meier(times["months"], times["event"])
    assert len(set(curve.times.round(3))) > 10
    assert not set(curve.times.round(3)) <= {6.0, 12.0, 18.0, 24.0}
    secondary = sections["secondary"].tables[0].frame
    assert "hazard ratio" in set(secondary["Measure"])
    # The repeated-measures model takes the first secondary outcome asked at the visits.
    repeated = sections["repeated"]
    assert "in paid work" in repeated.text[0]
    table = repeated.tables[0].frame
    assert table["Method"].str.contains("estimated correlation").all()
    assert table["Measure"].str.endswith("overall (average over visits)").sum() == 2
