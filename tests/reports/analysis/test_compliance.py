"""CACE by two-stage least squares against the Wald ratio and delta-method variance by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reports.analysis.compliance import difference, iv_2sls, received_treatment
from reports.analysis.estimates import two_by_two, welch_difference


def test_received_treatment_is_contact_in_intervention_arms_and_exposure_in_controls() -> None:
    is_control = pd.Series([False, False, False, True, True, True])
    exposed = pd.Series([False, True, None, True, False, None], dtype=object)
    contacted = pd.Series([True, False, None, True, True, False], dtype=object)
    # Intervention: reached or not (exposure does not matter); control: exposed or not.
    assert received_treatment(is_control, exposed, contacted).tolist() == [1, 0, 0, 1, 0, 0]


def test_iv_estimate_equals_the_wald_ratio_on_a_small_set() -> None:
    # Hand example: intervention arm (z=1) 6 people, all treated, 4 in work -> E[Y|z=1] = 4/6;
    # control arm (z=0) 6 people, 2 contaminated (d=1), 1 in work among the contaminated and 1
    # among the others -> E[Y|z=0] = 2/6, E[D|z=0] = 2/6.
    # Wald = (4/6 - 2/6) / (1 - 2/6) = (1/3) / (2/3) = 0.5.
    z = pd.Series([1] * 6 + [0] * 6)
    d = pd.Series([1] * 6 + [1, 1, 0, 0, 0, 0])
    y = pd.Series([1, 1, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0])
    estimate, first_f = iv_2sls(y, d, z)
    assert estimate.estimate == pytest.approx(0.5, abs=1e-12)
    # Robust (HC0) 2SLS variance with a binary instrument equals the delta-method variance
    # [var1(u)/n1 + var0(u)/n0] / ITT_d^2 with u = y - b d and population (ddof=0) variances.
    u = y - 0.5 * d
    variance = (u[z == 1].var(ddof=0) / 6 + u[z == 0].var(ddof=0) / 6) / (2 / 3) ** 2
    assert estimate.ci_low is not None and estimate.ci_high is not None
    half_width = (estimate.ci_high - estimate.ci_low) / 2
    assert half_width / 1.959963984540054 == pytest.approx(np.sqrt(variance), rel=1e-10)
    assert first_f is not None and first_f > 0


def test_iv_without_first_stage_is_not_identified() -> None:
    z = pd.Series([1, 1, 1, 0, 0, 0])
    d = pd.Series([1, 1, 1, 1, 1, 1])
    y = pd.Series([1, 0, 1, 0, 0, 1])
    estimate, _first_f = iv_2sls(y, d, z)
    assert estimate.estimate is None and "not identified" in (estimate.note or "")


def test_difference_has_the_primary_tables_standard_error() -> None:
    # One estimate, one standard error in the whole report: the ITT risk difference of the
    # non-compliance table is the primary table's (Wald, p(1 - p)/n per arm), not one with
    # sample variances (n - 1), which gave p = 0.807 beside 0.808 for the same estimate.
    y = pd.Series([1.0] * 30 + [0.0] * 20 + [1.0] * 28 + [0.0] * 22)
    group = pd.Series([1] * 50 + [0] * 50)
    result = difference(y, group, "ITT risk difference", "", binary=True)
    primary = two_by_two(30, 50, 28, 50)[0]
    assert (result.estimate, result.ci_low, result.ci_high, result.p_value) == (
        primary.estimate,
        primary.ci_low,
        primary.ci_high,
        primary.p_value,
    )
    assert result.measure == "ITT risk difference" and result.se_type == primary.se_type
    # A continuous outcome: the Welch difference of the primary table, t reference included.
    values = pd.Series([3.0, 5, 4, 6, 2, 1, 2, 3])
    arms = pd.Series([1, 1, 1, 1, 0, 0, 0, 0])
    welch = welch_difference(values[arms == 1], values[arms == 0])
    continuous = difference(values, arms, "ITT difference in means", "", binary=False)
    assert (continuous.estimate, continuous.p_value) == (welch.estimate, welch.p_value)
    assert continuous.reference == welch.reference
