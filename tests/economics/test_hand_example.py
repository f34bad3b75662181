"""The economic evaluation against a small example computed by hand (the arithmetic is written
out beside each figure). Tolerance: relative 1e-12, i.e. the same numbers up to floating-point
rounding of the sums."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from economics import analysis, costs, evaluation

D = dt.date
REL = 1e-12
SETTINGS = costs.CostSettings(
    horizon_months=14,
    discount_rate=0.04,
    price_year=2025,
    price_index={2024: 100.0, 2025: 105.0},
    work_states=("work",),
)


def participants() -> pd.DataFrame:
    return pd.DataFrame(
        [
            (1, "I", False, "A", D(2025, 1, 15)),
            (2, "I", False, "A", D(2025, 2, 1)),
            (3, "C", True, "A", D(2025, 1, 10)),
            (4, "C", True, "B", D(2025, 3, 1)),
            (5, "C", True, "B", D(2025, 1, 5)),
        ],
        columns=["participant_id", "arm", "control", "site", "randomised_on"],
    )


def contacts() -> pd.DataFrame:
    return pd.DataFrame(
        [
            # month 1, year 0: 60 min x 10.00 = 600; the participant's own time costs 0
            (1, D(2025, 1, 20), 60, "caseworker", ["participant"], False),
            # month 14, year 1: 30 x 12.00 = 360 and employer 30 x 5.25 = 157.5, both / 1.04
            (1, D(2026, 2, 10), 30, "caseworker", ["employer"], False),
            # month 15: after the 14-month horizon, outside the evaluation
            (1, D(2026, 3, 5), 30, "caseworker", [], False),
            # before randomisation (2025-02-01): outside
            (2, D(2025, 1, 25), 45, "caseworker", [], False),
            # 45 x 10 = 450 and employer 45 x 5.25 = 236.25
            (2, D(2025, 2, 3), 45, "caseworker", ["employer"], False),
            # control, intervention-specific component: contamination 30 x 10 = 300
            (3, D(2025, 1, 12), 30, "caseworker", [], True),
            # health service has no rate: left out, participant 4 incomplete (usual 200 kept)
            (4, D(2025, 3, 2), 20, "caseworker", ["health_service"], False),
            # usual contact 15 x 10 = 150
            (5, D(2025, 4, 1), 15, "caseworker", [], False),
        ],
        columns=["participant_id", "contact_on", "minutes", "role", "partners", "contamination"],
    )


def months() -> pd.DataFrame:
    states = {
        1: ["aap"] * 6 + ["work"] * 8,
        2: ["aap"] * 12 + ["disability"] * 2,
        3: ["aap"] * 14,
        4: ["aap"] * 3 + ["work"] * 11,
        5: [""] * 2 + ["work"] * 12,
    }
    rows = [(pid, k + 1, s) for pid, seq in states.items() for k, s in enumerate(seq)]
    return pd.DataFrame(rows, columns=["participant_id", "month", "state"])


def rates() -> pd.DataFrame:
    return pd.DataFrame(
        [
            ("staff_minute", "caseworker", "", 10.0, 2025, D(2025, 1, 1), D(2025, 12, 31)),
            ("staff_minute", "caseworker", "", 12.0, 2025, D(2026, 1, 1), None),
            # 2024 prices: 5 x 105 / 100 = 5.25 in 2025 prices
            ("partner_minute", "employer", "", 5.0, 2024, D(2024, 1, 1), None),
            ("partner_minute", "participant", "", 0.0, 2025, D(2020, 1, 1), None),
            ("participant", "", "I", 1000.0, 2025, D(2025, 1, 1), None),
            # shared by site A's two intervention participants: 2100 each
            ("site", "A", "I", 4200.0, 2025, D(2025, 1, 1), None),
            ("benefit", "aap", "", 20000.0, 2025, D(2020, 1, 1), D(2025, 12, 31)),
            ("benefit", "aap", "", 21000.0, 2025, D(2026, 1, 1), None),
            ("benefit", "disability", "", 25000.0, 2025, D(2020, 1, 1), None),
            ("benefit", "work", "", 0.0, 2025, D(2020, 1, 1), None),
        ],
        columns=["kind", "key", "arm", "amount", "price_year", "valid_from", "valid_to"],
    )


def per_person() -> pd.DataFrame:
    parts = costs.components(participants(), contacts(), months(), rates(), SETTINGS)
    return costs.per_participant(parts, discount_rate=0.04).set_index("participant_id")


# Totals by hand (r = 1.04 divides year-1 amounts, months 13-14):
# P1: 600 + 1000 + 2100 + 6 x 20000 + (360 + 157.5) / r          = 123700 + 517.5 / r
# P2: 450 + 236.25 + 1000 + 2100 + 11 x 20000 + 21000 (month 12 is 2026-01)
#     + 2 x 25000 / r                                              = 244786.25 + 50000 / r
# P3: 300 + 12 x 20000 + 2 x 21000 / r (months 13-14 are 2026)     = 240300 + 42000 / r
# P5: 150                                                          = 150
R = 1.04
TOTAL = {
    1: 123700 + 517.5 / R,
    2: 244786.25 + 50000 / R,
    3: 240300 + 42000 / R,
    5: 150.0,
}
# Months in work: P1 months 7-12 in year 0 and 13-14 in year 1; P5 months 3-12 and 13-14.
WORK = {1: 6 + 2 / R, 2: 0.0, 3: 0.0, 5: 10 + 2 / R}


def test_costs_per_participant_match_the_hand_computation() -> None:
    frame = per_person()
    for pid, total in TOTAL.items():
        assert frame.loc[pid, "total_cost"] == pytest.approx(total, rel=REL)
        assert frame.loc[pid, "months_in_work"] == pytest.approx(WORK[pid], rel=REL, abs=0)
    assert frame.loc[1, "delivery_staff"] == pytest.approx(600 + 360 / R, rel=REL)
    assert frame.loc[1, "delivery_partner"] == pytest.approx(157.5 / R, rel=REL)
    assert frame.loc[2, "fixed_site"] == pytest.approx(2100, rel=REL)
    assert frame.loc[3, "contamination_staff"] == pytest.approx(300, rel=REL)
    assert frame.loc[5, "usual_staff"] == pytest.approx(150, rel=REL)
    assert frame.loc[4, "usual_staff"] == pytest.approx(200, rel=REL)


def test_a_partner_without_a_rate_is_left_out_and_named_not_zero() -> None:
    parts = costs.components(participants(), contacts(), months(), rates(), SETTINGS)
    complete = parts.participants.set_index("participant_id")["complete"]
    assert not complete[4]
    assert complete[[1, 2, 3, 5]].all()
    assert parts.left_out == [
        costs.LeftOut("no_rate", "partner_minute", "health_service", 1, 20.0, 1)
    ]


def test_a_state_without_a_rate_and_a_price_year_without_an_index_are_listed() -> None:
    table = rates()
    table = table[table["key"] != "disability"]
    table.loc[len(table)] = ("participant", "", "C", 10.0, 2019, D(2025, 1, 1), None)
    parts = costs.components(participants(), contacts(), months(), table, SETTINGS)
    reasons = {(x.reason, x.kind, x.key) for x in parts.left_out}
    assert ("no_rate", "benefit", "disability") in reasons
    assert ("no_price_index", "participant", "") in reasons
    missing = next(x for x in parts.left_out if x.key == "disability")
    assert (missing.count, missing.participants) == (2, 1)  # two months of participant 2


def complete_cases() -> pd.DataFrame:
    frame = per_person()
    return frame[frame["complete"]]


# Means by arm (complete cases P1, P2 | P3, P5):
# cost treated = (368486.25 + 50517.5 / r) / 2, control = (240450 + 42000 / r) / 2
# delta cost   = 64018.125 + 4258.75 / r;   delta effect = (6 + 2/r)/2 - (10 + 2/r)/2 = -2
DC = 64018.125 + 4258.75 / R
DE = -2.0


def test_point_estimates_icer_and_net_benefit() -> None:
    frame = complete_cases()
    est = analysis.point(frame["total_cost"], frame["months_in_work"], ~frame["control"])
    assert (est.n_treated, est.n_control) == (2, 2)
    assert est.cost_treated == pytest.approx((368486.25 + 50517.5 / R) / 2, rel=REL)
    assert est.cost_control == pytest.approx((240450 + 42000 / R) / 2, rel=REL)
    assert est.delta_cost == pytest.approx(DC, rel=REL)
    assert est.delta_effect == pytest.approx(DE, rel=REL)
    assert est.icer == pytest.approx(DC / DE, rel=REL)
    nmb = analysis.net_benefit(est.delta_cost, est.delta_effect, [0, 10000])[:, 0]
    np.testing.assert_allclose(nmb, [-DC, 10000 * DE - DC], rtol=REL)


def test_bootstrap_on_a_fixed_index_matrix() -> None:
    """Rows (P1, P2, P3, P5). Replicate 1 takes (P1, P1 | P3, P3): dC = P1 - P3, dE = E1 - 0.
    Replicate 2 takes (P2, P1 | P5, P5): dC = (P1 + P2) / 2 - P5, dE = E1 / 2 - E5."""
    frame = complete_cases()
    indices = np.array([[0, 0, 2, 2], [1, 0, 3, 3]])
    result = analysis.analyse(
        frame["total_cost"],
        frame["months_in_work"],
        ~frame["control"],
        wtp=[0.0, 50000.0],
        indices=indices,
    )
    dc = [TOTAL[1] - TOTAL[3], (TOTAL[1] + TOTAL[2]) / 2 - TOTAL[5]]
    de = [WORK[1], WORK[1] / 2 - WORK[5]]
    np.testing.assert_allclose(result.delta_cost, dc, rtol=REL)
    np.testing.assert_allclose(result.delta_effect, de, rtol=REL)
    # Replicate 1: dC = (123700 + 517.5/r) - (240300 + 42000/r) < 0 and dE > 0, so its NMB is
    # positive at every willingness to pay. Replicate 2: dC > 0 and dE = (6 + 2/r)/2 - (10 + 2/r)
    # < 0, so its NMB is negative at every one. Acceptability: 1 of 2 at both 0 and 50,000.
    assert dc[0] < 0 < de[0] and de[1] < 0 < dc[1]
    np.testing.assert_allclose(result.ceac, [0.5, 0.5])
    # Percentile interval of two values, type 7: low = v1 + 0.025 (v2 - v1).
    low, high = sorted(dc)
    assert result.ci_cost[0] == pytest.approx(low + 0.025 * (high - low), rel=REL)
    assert result.ci_cost[1] == pytest.approx(low + 0.975 * (high - low), rel=REL)


def test_the_same_seed_gives_the_same_bootstrap() -> None:
    frame = complete_cases()
    args = (frame["total_cost"], frame["months_in_work"], ~frame["control"])
    a = analysis.analyse(*args, wtp=[0, 1e5], replicates=50, seed=7)
    b = analysis.analyse(*args, wtp=[0, 1e5], replicates=50, seed=7)
    np.testing.assert_array_equal(a.delta_cost, b.delta_cost)
    c = analysis.analyse(*args, wtp=[0, 1e5], replicates=50, seed=8)
    assert not np.array_equal(a.delta_cost, c.delta_cost)


def test_discount_rate_zero_adds_year_one_undiscounted() -> None:
    parts = costs.components(participants(), contacts(), months(), rates(), SETTINGS)
    frame = costs.per_participant(parts, discount_rate=0.0).set_index("participant_id")
    assert frame.loc[1, "total_cost"] == pytest.approx(123700 + 517.5, rel=REL)
    scaled = costs.per_participant(parts, discount_rate=0.0, scale={"staff_minute": 1.2}).set_index(
        "participant_id"
    )
    # staff minutes of P1: (600 + 360) x 0.2 more
    assert scaled.loc[1, "total_cost"] == pytest.approx(123700 + 517.5 + 960 * 0.2, rel=REL)


def test_the_discount_rate_is_varied_only_when_the_horizon_reaches_beyond_a_year() -> None:
    """Discounting starts after the first 12 months: over 12 months or less every discount
    scenario would repeat the base case, so none is made."""

    def discount_scenarios(horizon: int) -> list[float]:
        settings = dataclasses.replace(SETTINGS, horizon_months=horizon)
        found = evaluation.evaluate(
            participants(),
            contacts(),
            months(),
            rates(),
            settings,
            wtp_max=1e5,
            replicates=20,
            seed=1,
        )
        return [s.value for s in found.comparisons[0].sensitivity if s.name == "discount"]

    assert discount_scenarios(14) == list(evaluation.DISCOUNT_RATES)
    assert discount_scenarios(12) == []
