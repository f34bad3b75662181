"""The cost-effectiveness analysis against R (tests/economics/reference/reference.R, boot).

R drew the bootstrap resamples (``boot(..., strata = arm)``) and wrote them out; Python
recomputes the same replicates from those indices, so the comparison is exact up to floating
point and the 15 significant digits R writes. Tolerances: relative 1e-10 for means, differences,
the ICER, net monetary benefit and percentile limits; acceptability (a share of 500 replicates)
exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from economics import analysis

HERE = Path(__file__).with_name("reference")
REL = 1e-10
WTP = [0, 10000, 20000, 50000]


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(HERE / "data.csv")


@pytest.fixture(scope="module")
def expected() -> dict[str, float]:
    frame = pd.read_csv(HERE / "reference_r.csv")
    return dict(zip(frame["name"], frame["value"], strict=True))


def test_point_estimates_match_r(data: pd.DataFrame, expected: dict[str, float]) -> None:
    est = analysis.point(data["cost"], data["effect"], data["treated"] == 1)
    assert est.cost_control == pytest.approx(expected["cost_control"], rel=REL)
    assert est.cost_treated == pytest.approx(expected["cost_treated"], rel=REL)
    assert est.effect_control == pytest.approx(expected["effect_control"], rel=REL)
    assert est.effect_treated == pytest.approx(expected["effect_treated"], rel=REL)
    assert est.delta_cost == pytest.approx(expected["delta_cost"], rel=REL)
    assert est.delta_effect == pytest.approx(expected["delta_effect"], rel=REL)
    assert est.icer == pytest.approx(expected["icer"], rel=REL)
    nmb = analysis.net_benefit(est.delta_cost, est.delta_effect, WTP)[:, 0]
    for w, value in zip(WTP, nmb, strict=True):
        assert value == pytest.approx(expected[f"nmb_{w}"], rel=REL)


def check(result: analysis.Result, prefix: str, expected: dict[str, float]) -> None:
    assert result.ci_cost[0] == pytest.approx(expected[f"{prefix}_cost_q0.025"], rel=REL)
    assert result.ci_cost[1] == pytest.approx(expected[f"{prefix}_cost_q0.975"], rel=REL)
    assert result.ci_effect[0] == pytest.approx(expected[f"{prefix}_effect_q0.025"], rel=REL)
    assert result.ci_effect[1] == pytest.approx(expected[f"{prefix}_effect_q0.975"], rel=REL)
    for i, w in enumerate(WTP):
        low, high = result.ci_nmb[i]
        assert low == pytest.approx(expected[f"{prefix}_nmb_{w}_low"], rel=REL)
        assert high == pytest.approx(expected[f"{prefix}_nmb_{w}_high"], rel=REL)
        assert result.ceac[i] == expected[f"{prefix}_ceac_{w}"]


def test_bootstrap_over_participants_matches_r(
    data: pd.DataFrame, expected: dict[str, float]
) -> None:
    indices = np.loadtxt(HERE / "indices_people.csv", delimiter=",", dtype=np.int64) - 1
    result = analysis.analyse(
        data["cost"], data["effect"], data["treated"] == 1, wtp=WTP, indices=indices
    )
    assert result.replicates == 500
    check(result, "people", expected)


def test_cluster_bootstrap_matches_r(data: pd.DataFrame, expected: dict[str, float]) -> None:
    indices = np.loadtxt(HERE / "indices_clusters.csv", delimiter=",", dtype=np.int64) - 1
    result = analysis.analyse(
        data["cost"],
        data["effect"],
        data["treated"] == 1,
        wtp=WTP,
        cluster=data["cluster"].tolist(),
        indices=indices,
    )
    check(result, "clusters", expected)


def test_own_draws_keep_arm_sizes_and_cluster_arms(data: pd.DataFrame) -> None:
    treated = (data["treated"] == 1).to_numpy()
    draws = analysis.resample_people(treated, 100, seed=3)
    assert (treated[draws] == treated[None, :]).all()
    sums = analysis.cluster_sums(data["cost"], data["effect"], treated, data["cluster"].tolist())
    assert sums.nested
    clusters = analysis.resample_clusters(sums, 100, seed=3)
    assert (sums.treated[clusters] == sums.treated[None, :]).all()
