"""Dose, reach and contamination summaries against figures worked out by hand.

The trial is described in ``tests/fidelity/small_trial.py``. Follow-up days count both ends;
a month is 30.4375 days. Rates are compared with a relative tolerance of 1e-9 (pytest.approx).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator

import pytest
import time_machine

from fidelity.dashboards import contamination, dose
from tests.fidelity import small_trial
from tests.fidelity.small_trial import END, SmallTrial

M = 30.4375
D = dt.date


@pytest.fixture
def small(db: None) -> Iterator[SmallTrial]:
    with time_machine.travel(small_trial.TODAY, tick=False):
        yield small_trial.build()


def approx(value: float) -> object:
    return pytest.approx(value, rel=1e-9)


def by_study_id(frame: object) -> dict[str, dict]:
    return {row["study_id"]: row for row in frame.to_dict("records")}  # type: ignore[attr-defined]


# Participants


def test_dose_by_participant(small: SmallTrial) -> None:
    rows = by_study_id(dose.dose_by_participant(small.trial, end=END))
    assert sorted(rows) == ["p1", "p2", "p3", "p4", "p5", "p6", "p8"]  # p7 not randomised
    expected = {
        # follow-up days, contacts, minutes, days to first contact, to first employer contact
        "p1": (181, 3, 135, 0, 30),
        "p2": (167, 1, 20, 49, None),  # the contact before randomisation is not dose
        "p3": (50, 2, 50, 18, 18),  # follow-up ends at the withdrawal on 03-31
        "p8": (30, 0, 0, None, None),
        "p4": (150, 0, 0, None, None),
        "p5": (122, 1, 50, 121, None),  # the contact on 07-01 is after the cut-off
        "p6": (62, 2, 40, 1, 31),
    }
    for study_id, (days, contacts, minutes, first, employer) in expected.items():
        row = rows[study_id]
        assert row["follow_days"] == days, study_id
        assert row["follow_months"] == approx(days / M)
        assert row["contacts"] == contacts, study_id
        assert row["minutes"] == minutes, study_id
        assert row["contacts_per_month"] == approx(contacts / (days / M))
        assert row["minutes_per_month"] == approx(minutes / (days / M))
        for column, value in (
            ("days_to_first_contact", first),
            ("days_to_first_employer_contact", employer),
        ):
            if value is None:
                assert math.isnan(row[column]), (study_id, column)
            else:
                assert row[column] == value, (study_id, column)
        assert row["reached"] == (contacts > 0)
    assert rows["p3"]["follow_to"] == D(2025, 3, 31)
    assert {s for s, r in rows.items() if r["reached_specific"]} == {"p1", "p2", "p3", "p5", "p6"}


def test_a_date_range_limits_contacts_and_follow_up_time_but_not_time_to_first_contact(
    small: SmallTrial,
) -> None:
    rows = by_study_id(
        dose.dose_by_participant(small.trial, start=D(2025, 3, 1), end=D(2025, 5, 31))
    )
    assert (rows["p1"]["follow_days"], rows["p1"]["contacts"]) == (92, 0)
    assert rows["p1"]["days_to_first_contact"] == 0
    assert (rows["p3"]["follow_days"], rows["p3"]["contacts"], rows["p3"]["minutes"]) == (31, 1, 10)
    assert (rows["p6"]["follow_days"], rows["p6"]["contacts"]) == (32, 2)
    assert "p8" not in rows  # randomised after the cut-off
    assert not rows["p1"]["reached"] and not rows["p1"]["reached_specific"]
    assert rows["p3"]["reached"] and not rows["p3"]["reached_specific"]  # benefits only


def test_withdrawn_before_the_period_has_no_follow_up_time(small: SmallTrial) -> None:
    rows = by_study_id(dose.dose_by_participant(small.trial, start=D(2025, 4, 1), end=END))
    assert rows["p3"]["follow_days"] == 0
    assert math.isnan(rows["p3"]["contacts_per_month"])


def test_site_filter(small: SmallTrial) -> None:
    frame = dose.dose_by_participant(small.trial, sites=[small.sites["S2"]], end=END)
    assert sorted(frame["study_id"]) == ["p4", "p5", "p6"]


# Groups


def test_dose_by_arm(small: SmallTrial) -> None:
    result = dose.dose_by_arm(small.trial, end=END)
    assert list(result.index) == ["A", "B"]
    a, b = result.loc["A"], result.loc["B"]
    assert (a["participants"], a["contacts"], a["minutes"]) == (3, 6, 235)
    assert a["follow_months"] == approx(353 / M)
    assert a["contacts_per_month"] == approx(6 / (353 / M))  # 0.5173...
    assert a["minutes_per_month"] == approx(235 / (353 / M))
    assert (b["participants"], b["contacts"], b["minutes"]) == (4, 3, 60)
    assert b["contacts_per_month"] == approx(3 / (409 / M))
    assert bool(b["is_control"]) and not bool(a["is_control"])


def test_site_dose_counts_employer_contacts_without_participant(small: SmallTrial) -> None:
    result = dose.dose_by_site(small.trial, end=END)
    s1, s2 = result.loc["S1"], result.loc["S2"]
    assert (s1["participants"], s1["contacts"], s1["minutes"]) == (4, 6, 205)
    assert (s1["employer_contacts"], s1["employer_minutes"]) == (1, 90)
    assert s1["contacts_per_month"] == approx(7 / (428 / M))
    assert s1["minutes_per_month"] == approx(295 / (428 / M))
    # The employer contact on 07-01 is after the cut-off.
    assert (s2["participants"], s2["contacts"], s2["employer_contacts"]) == (3, 3, 1)
    assert s2["contacts_per_month"] == approx(4 / (334 / M))
    assert s2["minutes_per_month"] == approx(120 / (334 / M))
    # ...and never in an arm: the arms' contacts add up to the participants' only.
    arms = dose.dose_by_arm(small.trial, end=END)
    assert arms["contacts"].sum() == result["contacts"].sum() == 9


def test_time_to_first_contact_median_and_quartiles(small: SmallTrial) -> None:
    result = dose.time_to_first_contact(small.trial, by="arm", end=END)
    a, b = result.loc["A"], result.loc["B"]
    # A: days 0, 18, 121 (numpy linear quantiles); employer contacts after 18 and 30 days.
    assert (a["participants"], a["contacted"]) == (3, 3)
    assert (a["q1"], a["median"], a["q3"]) == (9, 18, 69.5)
    assert (a["employer_contacted"], a["employer_q1"], a["employer_median"]) == (2, 21, 24)
    assert a["employer_q3"] == 27
    # B: days 1 and 49; p4 and p8 not contacted yet; one employer contact after 31 days.
    assert (b["participants"], b["contacted"]) == (4, 2)
    assert (b["q1"], b["median"], b["q3"]) == (13, 25, 37)
    assert (b["employer_contacted"], b["employer_median"]) == (1, 31)

    sites = dose.time_to_first_contact(small.trial, by="site", end=END)
    assert sites.loc["S1", "median"] == 18  # 0, 18, 49
    assert sites.loc["S2", "median"] == 61  # 1, 121


def test_reach(small: SmallTrial) -> None:
    arms = dose.reach(small.trial, by="arm", end=END)
    assert arms.loc["A"].tolist() == [3, 3, 1.0, 3, 1.0]
    assert arms.loc["B"].tolist() == [4, 2, 0.5, 2, 0.5]
    sites = dose.reach(small.trial, by="site", end=END)
    assert sites.loc["S1"].tolist() == [4, 3, 0.75, 3, 0.75]
    assert sites.loc["S2"].tolist() == [3, 2, approx(2 / 3), 2, approx(2 / 3)]


def test_components_delivered_by_arm(small: SmallTrial) -> None:
    result = dose.components_delivered(small.trial, end=END)
    got = {(r["component"], r["arm"]): (r["received"], r["share"]) for _, r in result.iterrows()}
    assert got == {
        ("rapid", "A"): (3, 1.0),
        ("rapid", "B"): (1, 0.25),  # p2 on 03-05; the contact before randomisation is not
        ("jobdev", "A"): (2, approx(2 / 3)),
        ("jobdev", "B"): (1, 0.25),
        ("benefits", "A"): (2, approx(2 / 3)),
        ("benefits", "B"): (1, 0.25),
    }
    assert list(result["component"].unique()) == ["rapid", "jobdev", "benefits"]


def test_frames_can_be_shared_between_summaries(small: SmallTrial) -> None:
    frame = dose.dose_by_participant(small.trial, end=END)
    shared = dose.dose_by_arm(small.trial, end=END, frame=frame)
    assert shared.equals(dose.dose_by_arm(small.trial, end=END))


def test_empty_trial_gives_empty_groups_not_errors(db: None) -> None:
    from tests import factories

    trial = factories.make_trial()
    factories.make_site(trial, "X")
    assert dose.dose_by_arm(trial)["participants"].tolist() == [0, 0]
    assert math.isnan(dose.dose_by_site(trial).loc["X", "contacts_per_month"])
    assert dose.reach(trial, by="site").loc["X", "participants"] == 0
    assert math.isnan(dose.time_to_first_contact(trial).loc["A", "median"])
    assert dose.components_delivered(trial).empty
    assert contamination.contamination_overall(trial)["controls"] == 0
    assert contamination.contamination_by_month(trial)["events"].sum() == 0
    assert contamination.sites_driving_contamination(trial).empty
    assert contamination.latest_exposures(trial).empty


# Contamination


def test_contamination_overall_and_by_arm(small: SmallTrial) -> None:
    overall = contamination.contamination_overall(small.trial, end=END)
    assert overall.to_dict() == {
        "controls": 4,
        "exposed": 3,
        "share_exposed": 0.75,
        "events": 6,  # the exposure on 07-01 is after the cut-off
        "recent_events": 4,
    }
    arms = contamination.contamination_by_arm(small.trial, end=END)
    assert list(arms.index) == ["B"]
    assert arms.loc["B", ["controls", "exposed", "share_exposed"]].tolist() == [4, 3, 0.75]


def test_contamination_by_month_uses_calendar_months(small: SmallTrial) -> None:
    result = contamination.contamination_by_month(small.trial, end=END)
    assert list(result.index) == ["2025-01", "2025-02", "2025-03", "2025-04", "2025-05", "2025-06"]
    assert result["events"].tolist() == [0, 0, 1, 0, 4, 1]
    assert result["new_exposed"].tolist() == [0, 0, 1, 0, 1, 1]
    assert result["cumulative_exposed"].tolist() == [0, 0, 1, 1, 2, 3]
    # p6 randomised on 04-30 counts from April, p8 (06-01) from June.
    assert result["controls"].tolist() == [1, 2, 2, 3, 3, 4]
    assert result["cumulative_share"].tolist() == [0, 0, 0.5, approx(1 / 3), approx(2 / 3), 0.75]


def test_contamination_by_month_from_a_start_date_keeps_earlier_controls(small: SmallTrial) -> None:
    result = contamination.contamination_by_month(small.trial, start=D(2025, 5, 1), end=END)
    assert list(result.index) == ["2025-05", "2025-06"]
    assert result["controls"].tolist() == [3, 4]
    # Within the period p2's first exposure is 05-05, p6's is none (the contact exposure on
    # 05-31 counts), p4's 06-20.
    assert result["new_exposed"].tolist() == [2, 1]


def test_contamination_by_site_and_source(small: SmallTrial) -> None:
    sites = contamination.contamination_by_site(small.trial, end=END)
    assert sites.loc[
        "S1", ["controls", "exposed", "events", "site_events", "recent_events"]
    ].tolist() == [2, 1, 3, 0, 1]
    assert sites.loc["S1", "share_exposed"] == 0.5
    assert sites.loc[
        "S2", ["controls", "exposed", "events", "site_events", "recent_events"]
    ].tolist() == [2, 2, 3, 1, 3]
    sources = contamination.contamination_by_source(small.trial, end=END)
    assert sources[["events", "exposed"]].to_dict("index") == {
        "contact": {"events": 2, "exposed": 2},
        "assessment": {"events": 1, "exposed": 1},
        "site_event": {"events": 1, "exposed": 0},
        "staff": {"events": 2, "exposed": 2},
    }
    assert sources.loc["contact", "share_exposed"] == 0.5


def test_sites_driving_contamination_over_the_last_eight_weeks(small: SmallTrial) -> None:
    # The 56 days ending 06-30 start on 05-06: p2's staff exposure that day counts, the
    # assessment on 05-05 does not.
    result = contamination.sites_driving_contamination(small.trial, end=END)
    assert list(result.index) == ["S2", "S1"]
    assert result.loc["S2", ["recent_events", "recent_exposed", "events"]].tolist() == [3, 2, 3]
    assert result.loc["S2", "share_of_recent"] == 0.75
    assert result.loc["S1", ["recent_events", "recent_exposed"]].tolist() == [1, 0]
    # A day later the weeks run from 05-07: S1's exposure on 05-06 drops out, p6's on 07-01 in.
    later = contamination.sites_driving_contamination(small.trial, end=D(2025, 7, 1))
    assert list(later.index) == ["S2"]
    assert later.loc["S2", "recent_events"] == 4


def test_latest_exposures(small: SmallTrial) -> None:
    result = contamination.latest_exposures(small.trial, end=END, limit=3)
    assert result[["exposed_on", "study_id", "site", "source"]].values.tolist() == [
        [D(2025, 6, 20), "p4", "S2", "staff"],
        [D(2025, 5, 31), "p6", "S2", "contact"],
        [D(2025, 5, 10), "", "S2", "site_event"],
    ]
