"""Scale scoring: sums and means, reverse coding, proration, missing-data codes, rounding, bands.

The rules tested here are this project's (``instruments/scoring.py``'s docstring); the published
rules of the library's scales are tested in test_library.py.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from instruments.definition import DEFAULT_MISSING_CODES, Definition
from instruments.rules import check_definition
from instruments.scoring import band, derive_scores, number, reverse, round_half_away, score


def _likert(name: str, low: int = 1, high: int = 5) -> dict[str, Any]:
    return {
        "name": name,
        "type": "choice",
        "label": {"en": name, "nb": name},
        "choices": [{"code": str(c), "label": str(c)} for c in range(low, high + 1)],
    }


def _definition(*scales: dict[str, Any], items: list[dict[str, Any]] | None = None) -> Definition:
    """Four 1–5 items q1…q4 (unless ``items`` are given), the scales, the default codes."""
    definition = Definition.from_json(
        {
            "items": items if items is not None else [_likert(f"q{n}") for n in range(1, 5)],
            "scales": list(scales),
            "missing_codes": [
                {"code": code, "label": label.to_json()} for code, label in DEFAULT_MISSING_CODES
            ],
        }
    )
    check_definition(definition)  # every definition scored here is one a trial could store
    return definition


def _scale(**overrides: Any) -> dict[str, Any]:
    return {"name": "total", "items": ["q1", "q2", "q3", "q4"], "method": "sum", **overrides}


def _score(definition: Definition, values: dict[str, Any], **kwargs: Any) -> float | None:
    return score(definition.scales[0], definition, values, **kwargs)


ALL = {"q1": 1, "q2": 2, "q3": 4, "q4": 5}


def test_sum_adds_the_items_answers() -> None:
    assert _score(_definition(_scale()), ALL) == 12


def test_mean_averages_the_items_answers() -> None:
    assert _score(_definition(_scale(method="mean")), ALL) == 3


def test_yes_no_answers_count_one_for_yes_and_zero_for_no() -> None:
    items = [{"name": n, "type": "yesno", "label": n} for n in ("a", "b", "c")]
    definition = _definition(_scale(items=["a", "b", "c"]), items=items)
    assert _score(definition, {"a": True, "b": False, "c": True}) == 2


def test_integer_and_decimal_items_count_as_their_numbers() -> None:
    items: list[dict[str, Any]] = [
        {"name": "days", "type": "integer", "label": "days"},
        {"name": "hours", "type": "decimal", "label": "hours", "decimals": 1},
    ]
    definition = _definition(_scale(items=["days", "hours"]), items=items)
    assert _score(definition, {"days": 3, "hours": 2.5}) == 5.5


def test_a_reverse_coded_item_counts_min_plus_max_minus_the_answer() -> None:
    """A 1–5 item answered 1 counts 5, answered 5 counts 1 (1 + 5 − answer)."""
    definition = _definition(_scale(reverse=["q1", "q4"]))
    assert _score(definition, ALL) == 5 + 2 + 4 + 1


def test_reverse_coding_uses_each_items_own_range() -> None:
    items: list[dict[str, Any]] = [
        _likert("zero_to_three", 0, 3),
        {"name": "pain", "type": "integer", "label": "pain", "min": "0", "max": "10"},
        {"name": "worked", "type": "yesno", "label": "worked"},
    ]
    definition = _definition(
        _scale(
            items=["zero_to_three", "pain", "worked"], reverse=["zero_to_three", "pain", "worked"]
        ),
        items=items,
    )
    # 0 + 3 − 1 = 2; 0 + 10 − 7 = 3; 0 + 1 − 1 (yes) = 0
    assert _score(definition, {"zero_to_three": 1, "pain": 7, "worked": True}) == 5


def test_a_reverse_listed_item_outside_the_scale_is_not_scored() -> None:
    definition = _definition(_scale(items=["q1", "q2"], reverse=["q3"]))
    assert _score(definition, ALL) == 3


def test_a_missing_item_within_max_missing_is_prorated_for_a_sum() -> None:
    """Sum with one of four unanswered: mean of the answered three × 4."""
    definition = _definition(_scale(max_missing=1))
    assert _score(definition, {"q1": 1, "q2": 2, "q3": 3}) == 8  # 2 × 4


def test_a_prorated_sum_is_rounded_after_proration() -> None:
    definition = _definition(_scale(max_missing=1))
    assert _score(definition, {"q1": 1, "q2": 2, "q3": 2}) == 6.67  # 5 × 4 / 3


def test_a_missing_item_within_max_missing_leaves_a_mean_of_the_answered_items() -> None:
    definition = _definition(_scale(method="mean", max_missing=2))
    assert _score(definition, {"q1": 2, "q4": 5}) == 3.5


def test_more_missing_items_than_max_missing_make_the_score_missing() -> None:
    definition = _definition(_scale(max_missing=1))
    assert _score(definition, {"q1": 1, "q2": 2}) is None


def test_without_proration_one_missing_item_makes_the_score_missing() -> None:
    definition = _definition(_scale())
    assert _score(definition, {"q1": 1, "q2": 2, "q3": 3}) is None
    assert _score(definition, {}) is None


def test_an_item_with_a_missing_data_code_counts_as_unanswered() -> None:
    """Codes are stored apart from the values (``Assessment.missing``)."""
    definition = _definition(_scale(max_missing=1))
    values = {"q1": 1, "q2": 2, "q3": 3}
    assert _score(definition, values, missing={"q4": "refused"}) == 8
    assert _score(definition, values, missing={"q3": "refused", "q4": "dont_know"}) is None


def test_an_item_in_missing_counts_as_unanswered_even_with_a_value() -> None:
    definition = _definition(_scale(max_missing=1))
    assert _score(definition, ALL, missing={"q4": "not_asked"}) == 9.33  # 7 × 4 / 3


def test_a_missing_data_code_stored_as_the_value_counts_as_unanswered() -> None:
    """REDCap stores the code in place of the answer: the same code there counts as missing."""
    definition = _definition(_scale())
    assert _score(definition, {**ALL, "q4": "dont_know"}) is None
    assert _score(_definition(_scale(max_missing=1)), {**ALL, "q4": "dont_know"}) == 9.33


def test_blanks_and_text_count_as_unanswered() -> None:
    definition = _definition(_scale(max_missing=3))
    assert _score(definition, {"q1": 2, "q2": None, "q3": "", "q4": "n/a"}) == 8


def test_numbers_sent_as_text_count_as_numbers() -> None:
    assert _score(_definition(_scale()), {k: str(v) for k, v in ALL.items()}) == 12


def test_multiplier_applies_before_rounding() -> None:
    """WHO-5 style: the sum × 4; a multiplier of 0.125 on 1 gives 0.125, rounded to 0.13."""
    assert _score(_definition(_scale(multiplier="4")), ALL) == 48
    single = _definition(_scale(items=["q1"], multiplier="0.125"))
    assert _score(single, {"q1": 1}) == 0.13


def test_rounding_is_half_away_from_zero_not_bankers_rounding() -> None:
    """Python's round(2.5) is 2 and round(0.125, 2) is 0.12; the scores are 3 and 0.13."""
    items = [{"name": n, "type": "integer", "label": n} for n in ("a", "b")]
    definition = _definition(_scale(items=["a", "b"], method="mean", decimals=0), items=items)
    assert _score(definition, {"a": 2, "b": 3}) == 3
    assert _score(definition, {"a": -2, "b": -3}) == -3
    assert _score(definition, {"a": 1, "b": 2}) == 2
    assert round_half_away(Decimal("0.125"), 2) == Decimal("0.13")
    assert round_half_away(Decimal("-0.125"), 2) == Decimal("-0.13")
    assert round_half_away(Decimal("2.345"), 2) == Decimal("2.35")


def test_scores_are_rounded_to_the_scales_decimals() -> None:
    definition = _definition(_scale(method="mean", decimals=1, items=["q1", "q2", "q3"]))
    assert _score(definition, {"q1": 1, "q2": 1, "q3": 2}) == 1.3


def test_a_negative_zero_is_reported_as_zero() -> None:
    items = [{"name": "a", "type": "integer", "label": "a"}]
    definition = _definition(_scale(items=["a"], multiplier="-1"), items=items)
    result = _score(definition, {"a": 0})
    assert result == 0 and str(result) == "0.0"


def test_derive_scores_scores_every_scale_and_subscales_are_scales_over_fewer_items() -> None:
    definition = _definition(
        _scale(),
        _scale(name="first_half", items=["q1", "q2"]),
        _scale(name="second_half_mean", items=["q3", "q4"], method="mean"),
    )
    assert derive_scores(definition, ALL) == {
        "total": 12,
        "first_half": 3,
        "second_half_mean": 4.5,
    }


def test_derive_scores_follows_a_corrected_answer() -> None:
    definition = _definition(_scale())
    before = derive_scores(definition, ALL)
    after = derive_scores(definition, {**ALL, "q3": 1})
    assert (before, after) == ({"total": 12}, {"total": 9})


def test_derive_scores_of_a_definition_without_scales_is_empty() -> None:
    assert derive_scores(_definition(), ALL) == {}


def test_derive_scores_passes_missing_codes_on() -> None:
    definition = _definition(_scale(max_missing=1), _scale(name="strict"))
    assert derive_scores(definition, ALL, missing={"q4": "refused"}) == {
        "total": 9.33,
        "strict": None,
    }


def test_a_scale_over_an_unknown_item_is_refused_loudly() -> None:
    """check_definition refuses such a scale; scoring an unchecked one must not guess."""
    definition = Definition.from_json(
        {"items": [_likert("q1")], "scales": [{"name": "s", "items": ["q1", "ghost"]}]}
    )
    with pytest.raises(ValueError, match="ghost"):
        score(definition.scales[0], definition, {"q1": 1})


def test_number_reads_stored_answers() -> None:
    assert number(True) == 1 and number(False) == 0
    assert number(3) == 3 and number(2.5) == Decimal("2.5") and number(" 4 ") == 4
    assert number(float("nan")) is None and number(Decimal("Infinity")) is None
    assert number([1, 2]) is None and number("refused", codes=frozenset({"refused"})) is None
    assert number("-99", codes=frozenset({"-99"})) is None


# ---------------------------------------------------------------------------------------------
# Bands

BANDED = _scale(
    bands=[
        {"min": "10", "label": "moderate"},  # out of order on purpose: the highest minimum wins
        {"min": "0", "label": "none"},
        {"min": "5", "label": "mild"},
        {"min": "2.5", "label": "borderline"},
    ]
)


@pytest.mark.parametrize(
    ("value", "label"),
    [
        (0, "none"),
        (2.49, "none"),
        (2.5, "borderline"),
        (4.99, "borderline"),
        (5, "mild"),
        (5.0, "mild"),
        (9.99, "mild"),
        (10, "moderate"),
        (20, "moderate"),
        (Decimal("10.00"), "moderate"),
    ],
)
def test_a_score_falls_in_the_band_with_the_highest_minimum_at_or_below_it(
    value: float | Decimal, label: str
) -> None:
    scale = _definition(BANDED).scales[0]
    found = band(scale, value)
    assert found is not None and found.label.en == label


def test_no_band_for_a_missing_score_a_score_below_every_band_or_a_scale_without_bands() -> None:
    scale = _definition(BANDED).scales[0]
    assert band(scale, None) is None
    assert band(scale, -1) is None
    assert band(_definition(_scale()).scales[0], 12) is None


def test_a_float_score_at_a_decimal_cut_off_is_in_that_band() -> None:
    """0.1 + 0.2 is 0.30000000000000004 in binary, but a score of 2.0 is exactly 2.0."""
    scale = _definition(_scale(bands=[{"min": "2.0", "label": "high"}])).scales[0]
    assert band(scale, 2.0) is not None
    assert band(scale, 1.99) is None


# ---------------------------------------------------------------------------------------------
# Properties

answers = st.integers(min_value=1, max_value=5)


@given(value=st.integers(-1000, 1000), low=st.integers(-50, 50), width=st.integers(0, 50))
def test_reverse_coding_twice_is_the_identity(value: int, low: int, width: int) -> None:
    bounds = (Decimal(low), Decimal(low + width))
    assert reverse(reverse(Decimal(value), bounds), bounds) == value


@given(q=st.lists(answers, min_size=4, max_size=4), max_missing=st.integers(0, 3))
def test_a_prorated_sum_equals_the_full_sum_when_every_item_is_answered(
    q: list[int], max_missing: int
) -> None:
    values = {f"q{n}": v for n, v in enumerate(q, start=1)}
    definition = _definition(_scale(max_missing=max_missing))
    assert _score(definition, values) == sum(q)


@given(q=st.lists(answers, min_size=4, max_size=4))
def test_reversing_every_item_mirrors_the_sum(q: list[int]) -> None:
    """Each item becomes 6 − answer, so the sum becomes 4 × 6 − sum."""
    values = {f"q{n}": v for n, v in enumerate(q, start=1)}
    reversed_all = _definition(_scale(reverse=["q1", "q2", "q3", "q4"]))
    assert _score(reversed_all, values) == 24 - sum(q)


@given(q=st.lists(answers, min_size=3, max_size=3), gap=st.integers(1, 4))
def test_one_missing_item_is_prorated_as_the_mean_of_the_others(q: list[int], gap: int) -> None:
    values = {f"q{n}": v for n, v in zip([n for n in range(1, 5) if n != gap], q, strict=True)}
    as_sum = _definition(_scale(max_missing=1))
    as_mean = _definition(_scale(max_missing=1, method="mean"))
    expected_mean = round_half_away(Decimal(sum(q)) / 3, 2)
    assert _score(as_mean, values) == float(expected_mean)
    assert _score(as_sum, values) == float(round_half_away(Decimal(sum(q)) * 4 / 3, 2))
