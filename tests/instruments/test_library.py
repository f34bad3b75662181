"""The library of validated scales: each entry is a usable definition, scored as published.

Sources of the published rules: /work/shared/reference/anchors-instruments-costs.md §2 and the
citations in docs/instruments.md ("Scales in the library"); each test's docstring names its own.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from instruments.builtin import employment_definition
from instruments.definition import (
    Definition,
    DefinitionError,
    ItemType,
    Text,
    answer_range,
)
from instruments.library import LIBRARY, TRANSLATION_NOTE, LibraryScale, add_to_definition
from instruments.rules import check_definition
from instruments.scoring import band, derive_scores

WORKING = "working translation — replace with the validated Norwegian version before use"


def _scores(key: str, answers: list[int], **extra: Any) -> dict[str, float | None]:
    """The entry's scores when its items are answered in order with ``answers``."""
    definition = LIBRARY[key].definition()
    values = {i.name: a for i, a in zip(definition.items, answers, strict=False)}
    return derive_scores(definition, {**values, **extra})


def _band(key: str, scale_name: str, value: float | None) -> str | None:
    definition = LIBRARY[key].definition()
    scale = next(s for s in definition.scales if s.name == scale_name)
    found = band(scale, value)
    return found.label.en if found else None


# ---------------------------------------------------------------------------------------------
# Every entry


@pytest.mark.parametrize("key", list(LIBRARY))
def test_every_library_entry_passes_check_definition_on_its_own(key: str) -> None:
    check_definition(LIBRARY[key].definition())


@pytest.mark.parametrize("key", list(LIBRARY))
def test_every_entry_names_its_variables_after_its_key(key: str) -> None:
    entry = LIBRARY[key]
    assert entry.key == key
    assert all(n == key or n.startswith(f"{key}_") for n in entry.names)


@pytest.mark.parametrize("key", list(LIBRARY))
def test_every_entrys_scales_are_marked_as_from_the_library(key: str) -> None:
    assert {s.library for s in LIBRARY[key].definition().scales} == {key}


@pytest.mark.parametrize("key", list(LIBRARY))
def test_every_entry_has_a_citation_a_licence_and_a_working_translation_note(key: str) -> None:
    entry = LIBRARY[key]
    assert entry.citation and entry.licence and entry.licence_url_or_source
    assert entry.translation_note == TRANSLATION_NOTE
    assert WORKING in entry.translation_note.en


@pytest.mark.parametrize("key", list(LIBRARY))
def test_every_item_and_answer_has_english_and_bokmal_text(key: str) -> None:
    definition = LIBRARY[key].definition()
    entry = LIBRARY[key]
    assert entry.title.en and entry.title.nb
    for item in definition.items:
        assert item.type == ItemType.CHOICE
        assert item.label.en and item.label.nb and item.label.en != item.label.nb
        assert all(c.label.en and c.label.nb for c in item.choices)
    for scale in definition.scales:
        assert scale.label.en and scale.label.nb
        assert all(b.label.en and b.label.nb for b in scale.bands)


@pytest.mark.parametrize("key", list(LIBRARY))
def test_every_entry_offers_the_default_missing_data_codes(key: str) -> None:
    codes = [m.code for m in LIBRARY[key].definition().missing_codes]
    assert codes == ["not_asked", "refused", "dont_know"]


@pytest.mark.parametrize("key", list(LIBRARY))
def test_library_scales_do_not_prorate_by_default(key: str) -> None:
    """No official prorating rule is verified for any of them (reference §2 and §6): a trial
    that wants one sets max_missing in its own definition, as its analysis plan says."""
    assert all(s.max_missing == 0 for s in LIBRARY[key].definition().scales)


def test_the_definition_json_is_a_copy() -> None:
    entry = LIBRARY["phq9"]
    entry.definition_json()["items"][0]["name"] = "changed"
    assert entry.items[0]["name"] == "phq9_1"


def test_eq5d_is_not_shipped() -> None:
    """EuroQol forbids use, reproduction or translation without its written consent
    (reference §2, quoting euroqol.org via CamCOPS); the library holds no EQ-5D text."""
    assert not any("eq5d" in key or "EQ-5D" in e.title.en for key, e in LIBRARY.items())


# ---------------------------------------------------------------------------------------------
# WHO-5


def test_who5_items_answer_0_at_no_time_to_5_all_of_the_time() -> None:
    """Reference §2 [S]: 0 at no time … 5 all of the time, five items."""
    definition = LIBRARY["who5"].definition()
    assert len(definition.items) == 5
    for item in definition.items:
        assert answer_range(item) == (Decimal(0), Decimal(5))
        assert item.choice(0).label.en == "At no time"  # type: ignore[union-attr]  # present
        assert item.choice(5).label.en == "All of the time"  # type: ignore[union-attr]  # present


def test_who5_answers_3_3_2_4_1_give_raw_13_and_52_percent() -> None:
    """Reference §2 [S]: raw sum 0–25, × 4 for the percentage."""
    assert _scores("who5", [3, 3, 2, 4, 1]) == {"who5_raw": 13, "who5_pct": 52}


def test_who5_range_is_0_to_25_raw_and_0_to_100_percent() -> None:
    assert _scores("who5", [0] * 5) == {"who5_raw": 0, "who5_pct": 0}
    assert _scores("who5", [5] * 5) == {"who5_raw": 25, "who5_pct": 100}


def test_who5_below_13_raw_is_poor_well_being_and_13_is_not() -> None:
    """Reference §2 [S]: raw < 13 (≈ < 52 %) is poor well-being."""
    assert _band("who5", "who5_raw", 12) == "Poor well-being (below 13)"
    assert _band("who5", "who5_raw", 13) == "Not in the poor well-being range (13 or more)"
    assert _band("who5", "who5_pct", 48) == "Poor well-being (below 52 %)"
    assert _band("who5", "who5_pct", 52) == "Not in the poor well-being range (52 % or more)"


def test_who5_with_an_item_missing_has_no_score() -> None:
    assert _scores("who5", [3, 3, 2, 4]) == {"who5_raw": None, "who5_pct": None}


# ---------------------------------------------------------------------------------------------
# PHQ-9


def test_phq9_all_2s_give_18_moderately_severe() -> None:
    """Reference §2 [V, CamCOPS phq9.py]: sum of items 1–9, 0–27; ≥15 moderately severe."""
    scores = _scores("phq9", [2] * 9)
    assert scores == {"phq9": 18}
    assert _band("phq9", "phq9", scores["phq9"]) == "Moderately severe (15–19)"


def test_phq9_item_10_difficulty_is_asked_but_not_scored() -> None:
    """Reference §2 [V]: item 10 on difficulty is not scored."""
    definition = LIBRARY["phq9"].definition()
    assert [i.name for i in definition.items][-1] == "phq9_10"
    assert "phq9_10" not in definition.scales[0].items
    assert _scores("phq9", [1] * 9 + [3]) == _scores("phq9", [1] * 9) == {"phq9": 9}


def test_phq9_range_is_0_to_27() -> None:
    assert _scores("phq9", [0] * 9) == {"phq9": 0}
    assert _scores("phq9", [3] * 9) == {"phq9": 27}


@pytest.mark.parametrize(
    ("total", "label"),
    [
        (0, "None or minimal (0–4)"),
        (4, "None or minimal (0–4)"),
        (5, "Mild (5–9)"),
        (9, "Mild (5–9)"),
        (10, "Moderate (10–14)"),
        (14, "Moderate (10–14)"),
        (15, "Moderately severe (15–19)"),
        (19, "Moderately severe (15–19)"),
        (20, "Severe (20–27)"),
        (27, "Severe (20–27)"),
    ],
)
def test_phq9_bands_at_each_cut_off(total: int, label: str) -> None:
    """Reference §2 [V, Kroenke 2010 via CamCOPS]: ≥5 mild, ≥10 moderate, ≥15 moderately
    severe, ≥20 severe. Answers are built to sum to ``total``, then scored and banded."""
    answers = [3] * (total // 3) + ([total % 3] if total % 3 else [])
    answers += [0] * (9 - len(answers))
    scores = _scores("phq9", answers)
    assert scores == {"phq9": total}
    assert _band("phq9", "phq9", scores["phq9"]) == label


def test_phq9_with_one_item_missing_has_no_score_as_camcops() -> None:
    """Reference §2 [V]: CamCOPS does not prorate; an official prorating rule is [NV]."""
    assert _scores("phq9", [2] * 8) == {"phq9": None}


def test_phq9_with_an_item_refused_has_no_score() -> None:
    definition = LIBRARY["phq9"].definition()
    values = {f"phq9_{n}": 2 for n in range(1, 9)}
    assert derive_scores(definition, values, missing={"phq9_9": "refused"}) == {"phq9": None}


# ---------------------------------------------------------------------------------------------
# GAD-7


@pytest.mark.parametrize(
    ("answers", "total", "label"),
    [
        ([0] * 7, 0, "Minimal (0–4)"),
        ([1, 1, 1, 1, 0, 0, 0], 4, "Minimal (0–4)"),
        ([1, 1, 1, 1, 1, 0, 0], 5, "Mild (5–9)"),
        ([3, 3, 3, 0, 0, 0, 0], 9, "Mild (5–9)"),
        ([3, 3, 3, 1, 0, 0, 0], 10, "Moderate (10–14)"),
        ([2] * 7, 14, "Moderate (10–14)"),
        ([3, 3, 3, 3, 3, 0, 0], 15, "Severe (15–21)"),
        ([3] * 7, 21, "Severe (15–21)"),
    ],
)
def test_gad7_sums_and_bands_at_each_cut_off(answers: list[int], total: int, label: str) -> None:
    """Reference §2 [V, Spitzer 2006 via CamCOPS gad7.py]: sum 0–21; ≥5 mild, ≥10 moderate,
    ≥15 severe."""
    scores = _scores("gad7", answers)
    assert scores == {"gad7": total}
    assert _band("gad7", "gad7", scores["gad7"]) == label


def test_gad7_lowest_answer_is_not_at_all() -> None:
    """Reference §2 [V]: "not at all", not "not at all sure" (a common error, Zorowitz 2021)."""
    for item in LIBRARY["gad7"].definition().items:
        assert item.choice(0).label.en == "Not at all"  # type: ignore[union-attr]  # present


# ---------------------------------------------------------------------------------------------
# GSE


def test_gse_all_3s_give_30() -> None:
    """Reference §2 [S]: ten items 1–4, sum 10–40."""
    assert _scores("gse", [3] * 10) == {"gse": 30}
    assert _scores("gse", [1] * 10) == {"gse": 10}
    assert _scores("gse", [4] * 10) == {"gse": 40}


def test_gse_has_no_bands_for_want_of_an_official_cut_off() -> None:
    """Reference §2: no official cut-off found [NV]."""
    assert _band("gse", "gse", 30) is None
    assert LIBRARY["gse"].definition().scales[0].bands == ()


# ---------------------------------------------------------------------------------------------
# HSCL-5 / SCL-5


def test_hscl5_answers_1_2_2_3_2_give_mean_2_and_the_distress_band() -> None:
    """Reference §2 [S, Strand 2003 via a citing study]: the mean of five 1–4 items; ≥ 2.0."""
    scores = _scores("hscl5", [1, 2, 2, 3, 2])
    assert scores == {"hscl5": 2.0}
    assert _band("hscl5", "hscl5", scores["hscl5"]).startswith("Psychological distress")  # type: ignore[union-attr]  # a band


def test_hscl5_just_below_2_is_below_the_cut_off() -> None:
    scores = _scores("hscl5", [1, 2, 2, 2, 2])
    assert scores == {"hscl5": 1.8}
    assert _band("hscl5", "hscl5", scores["hscl5"]) == "Below the cut-off (mean under 2.0)"


def test_hscl5_range_is_1_to_4() -> None:
    assert _scores("hscl5", [1] * 5) == {"hscl5": 1}
    assert _scores("hscl5", [4] * 5) == {"hscl5": 4}


def test_hscl5_keeps_its_recall_period_in_the_item_note() -> None:
    """Reference §2 [S]: the recall period differs between surveys; store it with the version."""
    for item in LIBRARY["hscl5"].definition().items:
        assert "last week" in item.note.en and "siste uka" in item.note.nb


# ---------------------------------------------------------------------------------------------
# add_to_definition


def test_adding_a_scale_appends_its_items_and_scales_to_the_definition() -> None:
    base = employment_definition()
    result = add_to_definition(base, "gad7")
    definition = Definition.from_json(result)
    check_definition(definition)
    names = [i.name for i in definition.items]
    assert names[:7] == [i["name"] for i in base["items"]]
    assert names[7:] == [f"gad7_{n}" for n in range(1, 8)]
    assert [s.name for s in definition.scales] == ["gad7"]
    assert derive_scores(definition, {f"gad7_{n}": 2 for n in range(1, 8)}) == {"gad7": 14}


def test_adding_a_scale_leaves_the_input_unchanged() -> None:
    base = employment_definition()
    before = repr(base)
    add_to_definition(base, "phq9")
    assert repr(base) == before


def test_a_prefix_renames_items_and_scores_and_keeps_scores_computable() -> None:
    result = add_to_definition(employment_definition(), "phq9", prefix="phq9_m6")
    definition = Definition.from_json(result)
    check_definition(definition)
    assert [i.name for i in definition.items][7:] == [f"phq9_m6_{n}" for n in range(1, 11)]
    scale = definition.scales[0]
    assert scale.name == "phq9_m6" and scale.library == "phq9"
    assert scale.items == tuple(f"phq9_m6_{n}" for n in range(1, 10))
    assert derive_scores(definition, {f"phq9_m6_{n}": 2 for n in range(1, 10)}) == {"phq9_m6": 18}


def test_the_same_scale_twice_needs_a_prefix() -> None:
    twice = add_to_definition(add_to_definition({"items": []}, "who5"), "who5")
    with pytest.raises(DefinitionError, match="who5_1"):
        check_definition(Definition.from_json(twice))
    prefixed = add_to_definition(add_to_definition({"items": []}, "who5"), "who5", prefix="wb")
    definition = Definition.from_json(prefixed)
    check_definition(definition)
    values = {**{f"who5_{n}": 3 for n in range(1, 6)}, **{f"wb_{n}": 1 for n in range(1, 6)}}
    assert derive_scores(definition, values) == {
        "who5_raw": 15,
        "who5_pct": 60,
        "wb_raw": 5,
        "wb_pct": 20,
    }


def test_a_prefix_rewrites_reverse_lists_and_conditions(monkeypatch: pytest.MonkeyPatch) -> None:
    """No shipped scale has reverse-coded or conditional items yet; a trial-made entry may."""
    item = {
        "name": "demo_1",
        "type": "choice",
        "label": "one",
        "choices": [{"code": "1", "label": "1"}, {"code": "2", "label": "2"}],
    }
    entry = LibraryScale(
        key="demo",
        title=Text("Demo", "Demo"),
        citation="-",
        licence="-",
        licence_url_or_source="-",
        translation_note=TRANSLATION_NOTE,
        items=(item, {**item, "name": "demo_2", "show_if": "[demo_1] = '2' or [demo_1(x)]"}),
        scales=({"name": "demo", "items": ["demo_1", "demo_2"], "reverse": ["demo_2"]},),
        missing_codes=(),
    )
    monkeypatch.setitem(LIBRARY, "demo", entry)
    result = add_to_definition({"items": []}, "demo", prefix="other")
    assert result["items"][1]["show_if"] == "[other_1] = '2' or [other_1(x)]"
    assert result["scales"] == [
        {"name": "other", "items": ["other_1", "other_2"], "reverse": ["other_2"]}
    ]


@pytest.mark.parametrize("prefix", ["", "Phq", "9phq", "phq-9", "p" * 30])
def test_a_prefix_that_makes_invalid_names_is_refused(prefix: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        add_to_definition({"items": []}, "phq9", prefix=prefix)
    assert [where for where, _ in caught.value.errors] == ["prefix"]


def test_a_prefix_as_long_as_names_allow_is_accepted() -> None:
    """Names are at most 32 characters; PHQ-9's longest suffix is "_10" (3)."""
    result = add_to_definition({"items": []}, "phq9", prefix="p" * 29)
    check_definition(Definition.from_json(result))


def test_an_unknown_library_key_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        add_to_definition({"items": []}, "eq5d5l")


def test_missing_data_codes_are_added_once_and_the_definitions_own_are_kept() -> None:
    own = {
        "items": [],
        "missing_codes": [{"code": "refused", "label": "Nekter"}, {"code": "-9", "label": "x"}],
    }
    codes = [m["code"] for m in add_to_definition(own, "gse")["missing_codes"]]
    assert codes == ["refused", "-9", "not_asked", "dont_know"]
    assert add_to_definition(own, "gse")["missing_codes"][0]["label"] == "Nekter"
