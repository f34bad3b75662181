"""Count and ordinal effect measures against reference numbers computed by R.

tests/reports/reference/ holds the data (made by make_data.py), the R script (reference.R: glm
with sandwich::sandwich for the Poisson model, MASS::polr for the proportional-odds model) and
its output (reference_r.csv, R 4.2.2, MASS 7.3-58.2, sandwich 3.0-2). Tolerance: 1e-5 relative
on the ratio and the confidence limits (the fits agree to about 5e-7: the optimisers stop at
slightly different points and polr's Hessian is numerical), 1e-4 relative on the p-value (a
small p-value's relative error is about z² times that of the standard error; z is 3.5 here).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from reports.analysis.ordinal_count import proportional_odds, rate_ratio

REFERENCE = Path(__file__).parent / "reference"
TOLERANCE = 1e-5
TOLERANCE_P = 1e-4


def reference(model: str) -> pd.Series:
    return pd.read_csv(REFERENCE / "reference_r.csv").set_index("model").loc[model]


def data(name: str) -> pd.DataFrame:
    return pd.read_csv(REFERENCE / f"{name}.csv").rename(columns={"y": "outcome"})


@pytest.mark.parametrize(
    ("model", "name", "fit", "covariates", "measure"),
    [
        ("poisson_unadjusted", "counts", rate_ratio, [], "rate ratio"),
        ("poisson_adjusted", "counts", rate_ratio, ["age", "site"], "adjusted rate ratio"),
        ("polr_unadjusted", "ordinal", proportional_odds, [], "proportional-odds odds ratio"),
        (
            "polr_adjusted",
            "ordinal",
            proportional_odds,
            ["age", "site"],
            "adjusted proportional-odds odds ratio",
        ),
    ],
)
def test_count_and_ordinal_models_match_r(
    model: str, name: str, fit: object, covariates: list[str], measure: str
) -> None:
    expected = reference(model)
    estimate = fit(data(name), "outcome", covariates)  # type: ignore[operator]
    assert estimate.measure == measure
    assert estimate.estimate == pytest.approx(expected["estimate"], rel=TOLERANCE)
    assert estimate.ci_low == pytest.approx(expected["ci_low"], rel=TOLERANCE)
    assert estimate.ci_high == pytest.approx(expected["ci_high"], rel=TOLERANCE)
    assert estimate.p_value == pytest.approx(expected["p_value"], rel=TOLERANCE_P)
    assert (estimate.n_treated, estimate.n_control) == (120, 120)
    assert estimate.note is None


def test_rate_ratio_is_not_estimated_when_an_arm_has_only_zeros() -> None:
    frame = pd.DataFrame({"y": [0, 0, 0, 2, 3, 1], "treat": [1, 1, 1, 0, 0, 0]})
    estimate = rate_ratio(frame, "y", [])
    assert estimate.estimate is None and "zero" in (estimate.note or "")
    negative = rate_ratio(frame.assign(y=[-1, 0, 2, 2, 3, 1]), "y", [])
    assert negative.estimate is None and "negative" in (negative.note or "")


def test_proportional_odds_says_why_it_cannot_be_estimated() -> None:
    one_level = pd.DataFrame({"y": [2] * 6, "treat": [1, 1, 1, 0, 0, 0]})
    assert "only one value" in (proportional_odds(one_level, "y", []).note or "")
    separated = pd.DataFrame({"y": [3, 3, 3, 3, 1, 1, 2, 1], "treat": [1, 1, 1, 1, 0, 0, 0, 0]})
    estimate = proportional_odds(separated, "y", [])
    assert estimate.estimate is None and "Separation" in (estimate.note or "")
    # A covariate with no variation is left out and named, as in the other models.
    frame = data("ordinal").assign(constant=1)
    named = proportional_odds(frame, "outcome", ["constant"], label=lambda k: k.upper())
    assert named.measure == "proportional-odds odds ratio"
    assert named.note == "Covariate CONSTANT is constant and was left out."
