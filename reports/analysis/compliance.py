"""Contamination and non-compliance: ITT beside the complier-average causal effect (CACE).

Treatment *received* is defined from what the system records, as in the participant flow
(CONSORT "received allocated intervention"): a participant randomised to an intervention arm
counts as treated when at least one contact with them was logged by the cut-off, and a control
participant when they were exposed to an intervention-specific component (contamination). So
``received = contacted if not is_control else exposed``. The CACE therefore corrects for both
intervention participants who were never reached and contaminated controls (two-sided
noncompliance), by the difference between the arms in the share treated.

Standard errors: the ITT, per-protocol and as-treated differences use the estimator of the
primary table's unadjusted comparison (:func:`difference`), so one estimate has one standard
error across the report; the CACE uses the HC0 sandwich of two-stage least squares. Cluster
designs use :func:`reports.analysis.clustered.cluster_difference` (CR2, t(K − 2)) for all four.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from reports.analysis.estimates import (
    Z95,
    Estimate,
    binary_itt,
    finite,
    normal_reference,
    unavailable,
    welch_difference,
)
from reports.analysis.text import _


def received_treatment(
    is_control: pd.Series, exposed: pd.Series, contacted: pd.Series
) -> pd.Series:
    """0/1 treatment received: contacted in an intervention arm, exposed in a control arm (see
    the module docstring)."""
    control = is_control.fillna(False).astype(bool)
    exposed = exposed.fillna(False).astype(bool)
    contacted = contacted.fillna(False).astype(bool)
    return ((~control & contacted) | (control & exposed)).astype(int)


def iv_2sls(
    y: pd.Series, d: pd.Series, z: pd.Series, covariates: pd.DataFrame | None = None
) -> tuple[Estimate, float | None]:
    """CACE by two-stage least squares: ``y`` on received ``d``, instrumented by arm ``z``.

    Returns the estimate and the first-stage F statistic for the instrument. Standard errors
    are the heteroskedasticity-robust (HC0) 2SLS sandwich with a normal reference, as
    linearmodels' ``IV2SLS(...).fit(cov_type="robust")``. Without covariates the point estimate
    is the Wald ratio ITT(y) / ITT(d).
    """
    measure, method = _("complier-average causal effect"), _("2SLS, arm as instrument, robust SE")
    parts = [pd.Series(y, name="y"), pd.Series(d, name="d"), pd.Series(z, name="z")]
    frame = pd.concat(parts, axis=1)
    if covariates is not None and not covariates.empty:
        frame = pd.concat([frame, covariates.reset_index(drop=True).set_axis(frame.index)], axis=1)
    frame = frame.dropna().astype(float)
    n_t, n_c = int((frame["z"] == 1).sum()), int((frame["z"] == 0).sum())
    if n_t < 2 or n_c < 2:
        return unavailable(
            measure, method, n_t, n_c, _("An arm has fewer than two observations.")
        ), None
    extra = frame.drop(columns=["y", "d", "z"]).to_numpy()
    ones = np.ones((len(frame), 1))
    instruments = np.hstack([ones, frame[["z"]].to_numpy(), extra])
    regressors = np.hstack([ones, frame[["d"]].to_numpy(), extra])
    outcome = frame["y"].to_numpy()
    first_stage_f = _first_stage_f(frame["d"].to_numpy(), instruments)
    try:
        fitted = instruments @ np.linalg.lstsq(instruments, regressors, rcond=None)[0]
        bread = np.linalg.inv(fitted.T @ regressors)
    except np.linalg.LinAlgError:
        bread = None
    if bread is None or first_stage_f is None or first_stage_f < 1e-8:
        why = _(
            "Arm does not change the treatment received (no first stage), so the CACE is not "
            "identified."
        )
        return unavailable(measure, method, n_t, n_c, why), first_stage_f
    beta = bread @ fitted.T @ outcome
    residuals = outcome - regressors @ beta
    meat = (fitted * residuals[:, None] ** 2).T @ fitted
    covariance = bread @ meat @ bread.T
    coef, se = float(beta[1]), math.sqrt(max(float(covariance[1, 1]), 0.0))
    if se == 0:
        return Estimate(measure, coef, None, None, None, method, n_t, n_c), first_stage_f
    p = float(2 * stats.norm.sf(abs(coef / se)))
    estimate = Estimate(
        measure, coef, coef - Z95 * se, coef + Z95 * se, p, method, n_t, n_c
    ).described("HC0", normal_reference())
    if first_stage_f < 10:
        estimate.note = _("Weak instrument: first-stage F below 10.")
    return estimate, first_stage_f


def _first_stage_f(d: np.ndarray, instruments: np.ndarray) -> float | None:
    """Classical F (= t²) for the instrument (column 1) in the regression of d on instruments."""
    coef, *_rest = np.linalg.lstsq(instruments, d, rcond=None)
    residuals = d - instruments @ coef
    dof = len(d) - instruments.shape[1]
    if dof <= 0:
        return None
    sigma2 = float(residuals @ residuals) / dof
    try:
        xtx_inv = np.linalg.inv(instruments.T @ instruments)
    except np.linalg.LinAlgError:
        return None
    variance = sigma2 * xtx_inv[1, 1]
    if variance <= 0:
        return float("inf") if abs(coef[1]) > 0 else 0.0
    return finite(coef[1] ** 2 / variance)


def difference(
    y: pd.Series, group: pd.Series, measure: str, note: str, *, binary: bool
) -> Estimate:
    """Difference between group 1 and group 0 by the estimator of the primary table's
    unadjusted comparison: the risk difference with its Wald interval, SE from p(1 − p)/n in
    each group (binary ``y``), or the Welch difference in means (otherwise)."""
    data = pd.DataFrame({"y": y, "g": group}).dropna()
    if binary:
        estimate = binary_itt(data.astype({"y": float}), "y", "g")[0]
    else:
        values = data["y"].astype(float)
        estimate = welch_difference(values[data["g"] == 1], values[data["g"] == 0])
    estimate.measure = measure
    estimate.note = " ".join(filter(None, [note, estimate.note])) or None
    return estimate
