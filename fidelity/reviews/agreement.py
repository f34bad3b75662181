"""Agreement between fidelity reviewers: plain functions over scores, no ORM.

* :func:`weighted_kappa` — Cohen's kappa for two raters with linear or quadratic disagreement
  weights over an ordered set of levels (Cohen 1968). It matches
  ``statsmodels.stats.inter_rater.cohens_kappa(table, wt=...)``.
* :func:`icc` — intraclass correlations of Shrout & Fleiss (1979) from the two-way ANOVA of an
  n targets × k raters table: ICC(1,1), ICC(2,1) (two-way random, absolute agreement) and
  ICC(3,1) (two-way mixed, consistency), with their k-rater averages.
* :func:`item_agreement` — per item of one review: the reviewers' range and whether they agree.

When a figure is undefined (every rating in one level, fewer than two targets…) the result's
``value`` is None and ``reason`` says why, so a page can say so instead of printing NaN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

from django.utils.translation import gettext_lazy as _

WEIGHTS = ("linear", "quadratic")


@dataclass(frozen=True)
class Kappa:
    value: float | None
    observed_agreement: float | None
    """Share of targets rated identically."""
    n: int
    weights: str
    reason: str = ""


def weighted_kappa(
    first: Sequence[int], second: Sequence[int], levels: Sequence[int], weights: str = "linear"
) -> Kappa:
    """Weighted kappa of two raters' scores of the same targets (paired by position).

    ``levels`` are the ordered possible scores (e.g. 1..5); weights are |i−j| (linear) or
    (i−j)² (quadratic) on the level positions. kappa = 1 − Σ w·observed / Σ w·expected.
    Undefined (value None) without targets or when the expected disagreement is zero, which
    happens when both raters put every target in the same single level.
    """
    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {WEIGHTS}")
    if len(first) != len(second):
        raise ValueError("both raters must score the same targets")
    n = len(first)
    if n == 0:
        return Kappa(None, None, 0, weights, str(_("No items were scored by both reviewers.")))
    index = {level: i for i, level in enumerate(levels)}
    for score in (*first, *second):
        if score not in index:
            raise ValueError(f"score {score} is not one of the levels {list(levels)}")
    size = len(levels)
    table = [[0] * size for _ in range(size)]
    for a, b in zip(first, second, strict=True):
        table[index[a]][index[b]] += 1
    rows = [sum(row) / n for row in table]
    cols = [sum(table[i][j] for i in range(size)) / n for j in range(size)]
    power = 1 if weights == "linear" else 2
    observed = expected = 0.0
    for i in range(size):
        for j in range(size):
            w = abs(i - j) ** power
            observed += w * table[i][j] / n
            expected += w * rows[i] * cols[j]
    exact = sum(table[i][i] for i in range(size)) / n
    if expected == 0:
        return Kappa(
            None,
            exact,
            n,
            weights,
            str(
                _(
                    "Kappa is undefined: both reviewers gave every item the same score, so "
                    "agreement beyond chance cannot be measured."
                )
            ),
        )
    return Kappa(1 - observed / expected, exact, n, weights)


@dataclass(frozen=True)
class ICC:
    """Shrout & Fleiss intraclass correlations for n targets rated by the same k raters."""

    n: int
    k: int
    icc1: float | None = None
    icc2: float | None = None
    icc3: float | None = None
    icc1k: float | None = None
    icc2k: float | None = None
    icc3k: float | None = None
    reason: str = ""


def _ratio(numerator: float, denominator: float) -> float | None:
    return None if abs(denominator) < 1e-12 else numerator / denominator


def icc(table: Sequence[Sequence[float]]) -> ICC:
    """ICCs of a complete n×k table (rows targets, columns raters), Shrout & Fleiss 1979.

    From the two-way ANOVA mean squares BMS (targets), JMS (raters), EMS (residual) and
    WMS (within targets):
    ICC(1,1) = (BMS−WMS)/(BMS+(k−1)WMS); ICC(2,1) = (BMS−EMS)/(BMS+(k−1)EMS+k(JMS−EMS)/n);
    ICC(3,1) = (BMS−EMS)/(BMS+(k−1)EMS); the k-rater forms divide by BMS (or BMS+(JMS−EMS)/n).
    Needs n ≥ 2 and k ≥ 2; a figure whose denominator is zero (no variation at all) is None.
    """
    n = len(table)
    k = len(table[0]) if n else 0
    if n < 2 or k < 2:
        return ICC(
            n, k, reason=str(_("An ICC needs at least two targets each rated by two raters."))
        )
    if any(len(row) != k for row in table):
        raise ValueError("every target must be rated by the same k raters")
    grand = sum(sum(row) for row in table) / (n * k)
    row_means = [sum(row) / k for row in table]
    col_means = [sum(row[j] for row in table) / n for j in range(k)]
    ss_total = sum((x - grand) ** 2 for row in table for x in row)
    ss_rows = k * sum((m - grand) ** 2 for m in row_means)
    ss_cols = n * sum((m - grand) ** 2 for m in col_means)
    ss_error = ss_total - ss_rows - ss_cols
    bms = ss_rows / (n - 1)
    jms = ss_cols / (k - 1)
    ems = ss_error / ((n - 1) * (k - 1))
    wms = (ss_cols + ss_error) / (n * (k - 1))
    result = ICC(
        n=n,
        k=k,
        icc1=_ratio(bms - wms, bms + (k - 1) * wms),
        icc2=_ratio(bms - ems, bms + (k - 1) * ems + k * (jms - ems) / n),
        icc3=_ratio(bms - ems, bms + (k - 1) * ems),
        icc1k=_ratio(bms - wms, bms),
        icc2k=_ratio(bms - ems, bms + (jms - ems) / n),
        icc3k=_ratio(bms - ems, bms),
    )
    if result.icc2 is None or result.icc3 is None:
        return ICC(
            n,
            k,
            reason=str(
                _("The ICC is undefined: the scores do not vary between the items or reviews.")
            ),
        )
    return result


@dataclass(frozen=True)
class ItemAgreement:
    number: int
    scores: list[int]
    spread: int
    """Highest minus lowest score."""

    @property
    def agreed(self) -> bool:
        return self.spread == 0


@dataclass
class ReviewAgreement:
    """Agreement among a review's reviewers, before consensus."""

    reviewers: int
    items: list[ItemAgreement] = field(default_factory=list)
    exact: float | None = None
    """Share of items on which all reviewers gave the same score."""
    within_one: float | None = None
    """Share of items on which the scores differ by at most one level."""
    kappa_linear: Kappa | None = None
    kappa_quadratic: Kappa | None = None
    icc: ICC | None = None
    pairs: int = 0


def item_agreement(scores: Mapping[int, Sequence[int]]) -> list[ItemAgreement]:
    """Per item number, the reviewers' scores and their spread (items in number order)."""
    return [
        ItemAgreement(number=number, scores=list(values), spread=max(values) - min(values))
        for number, values in sorted(scores.items())
        if values
    ]


def _mean_kappa(
    columns: list[list[int]], levels: Sequence[int], weights: str
) -> tuple[Kappa | None, int]:
    """Weighted kappa averaged over every pair of reviewers (Light's kappa for k > 2)."""
    pairs = list(combinations(range(len(columns)), 2))
    results = [weighted_kappa(columns[a], columns[b], levels, weights) for a, b in pairs]
    if not results:
        return None, 0
    defined = [r.value for r in results if r.value is not None]
    if len(defined) < len(results):
        first_undefined = next(r for r in results if r.value is None)
        return Kappa(None, None, results[0].n, weights, first_undefined.reason), len(pairs)
    observed = [r.observed_agreement or 0.0 for r in results]
    return Kappa(
        sum(defined) / len(defined), sum(observed) / len(observed), results[0].n, weights
    ), len(pairs)


def review_agreement(
    by_reviewer: Sequence[Mapping[int, int]], levels: Sequence[int]
) -> ReviewAgreement:
    """Agreement of a review's reviewers over the items all of them scored.

    ``by_reviewer`` holds one {item number: score} per reviewer. Kappa (linear and
    quadratic) is over the items, averaged over reviewer pairs; the ICC treats the items as
    targets and the reviewers as raters.
    """
    result = ReviewAgreement(reviewers=len(by_reviewer))
    if len(by_reviewer) < 2:
        return result
    common = sorted(set.intersection(*(set(scores) for scores in by_reviewer)))
    result.items = item_agreement(
        {number: [scores[number] for scores in by_reviewer] for number in common}
    )
    if not common:
        return result
    result.exact = sum(1 for a in result.items if a.spread == 0) / len(common)
    result.within_one = sum(1 for a in result.items if a.spread <= 1) / len(common)
    columns = [[scores[number] for number in common] for scores in by_reviewer]
    result.kappa_linear, result.pairs = _mean_kappa(columns, levels, "linear")
    result.kappa_quadratic, _pairs = _mean_kappa(columns, levels, "quadratic")
    result.icc = icc([[scores[number] for scores in by_reviewer] for number in common])
    return result
