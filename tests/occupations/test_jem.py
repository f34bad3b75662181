"""The JEM file format and the hierarchy fallback, against hand-built matrices."""

from __future__ import annotations

import pandas as pd
import pytest

from occupations import jem

MATRIX = """code,level,measure,score
5223,4,mechanical,4
522,3,mechanical,3.5
52,2,mechanical,3
5,1,mechanical,2
9,1,psychosocial,1
91,2,psychosocial,2
911,3,psychosocial,5
"""


def entries() -> pd.DataFrame:
    parsed = jem.parse_csv(MATRIX)
    assert parsed.ok, parsed.errors
    return parsed.entries


def test_fallback_at_each_level_is_reported() -> None:
    codes = pd.Series(
        ["5223", "5221", "5241", "5311", "9112", "9122", "9211", "4110", None, "abc", "52"],
        index=range(100, 111),
    )
    result = jem.strain_scores(codes, entries())
    assert list(result.index) == list(range(100, 111))
    mech = result["mechanical"].tolist()
    # 5223 exact; 5221 → 522; 5241 → 52; 5311 → 5; 9xxx and 4110 have no mechanical score
    assert mech[:4] == [4.0, 3.5, 3.0, 2.0]
    assert all(pd.isna(v) for v in mech[4:10])
    assert mech[10] == 3.0  # a 2-digit code is looked up from its own level
    psy = result["psychosocial"].tolist()
    # 9112 → 911; 9122 → 91; 9211 → 9; 5xxx and 4110 have none
    assert psy[4:7] == [5.0, 2.0, 1.0]
    assert all(pd.isna(v) for v in psy[:4] + psy[7:])
    assert result["level_used_mechanical"].tolist()[:4] == [4, 3, 2, 1]
    assert result["level_used_psychosocial"].tolist()[4:7] == [3, 2, 1]
    # level_used: the coarsest level over the measures found; <NA> when nothing is scored
    assert result["level_used"].tolist()[:7] == [4, 3, 2, 1, 3, 2, 1]
    assert all(pd.isna(v) for v in result["level_used"].tolist()[7:10])


def test_level_used_is_the_coarsest_of_the_measures() -> None:
    matrix = jem.parse_csv("code,level,measure,score\n5223,4,a,1\n5,1,b,2\n").entries
    result = jem.strain_scores(pd.Series(["5223"]), matrix)
    assert result.loc[0, "level_used_a"] == 4
    assert result.loc[0, "level_used_b"] == 1
    assert result.loc[0, "level_used"] == 1


def test_empty_input_and_empty_matrix() -> None:
    result = jem.strain_scores(pd.Series([], dtype=object), entries())
    assert result.empty and "mechanical" in result.columns
    none = jem.strain_scores(pd.Series(["5223"]), pd.DataFrame(columns=jem.ENTRY_COLUMNS))
    assert pd.isna(none.loc[0, "level_used"])


def test_row_errors_name_the_line_and_column() -> None:
    text = (
        "code;level;measure;score\n"  # semicolons are accepted too
        "9999;4;mechanical;1\n"  # line 2: unknown code
        "53;3;mechanical;1\n"  # line 3: level mismatch
        "5;1;Mechanical;x\n"  # line 4: bad measure and score
        "\n"  # line 5: empty, ignored
        "52;2;mechanical;2,5\n"  # line 6: fine (decimal comma)
        "52;2;mechanical;3\n"  # line 7: duplicate of line 6
    )
    parsed = jem.parse_csv(text)
    assert not parsed.ok
    found = [(e.line, e.column, e.message) for e in parsed.errors]
    assert found == [
        (2, "code", "Unknown STYRK-08 code '9999'"),
        (3, "level", "Level 3 does not match code '53', a level 2 code."),
        (
            4,
            "measure",
            "Measure 'Mechanical' must be a short code of lower-case letters, digits and "
            "underscores, starting with a letter.",
        ),
        (4, "score", "Score 'x' is not a number."),
        (7, "code", "Code '52' and measure 'mechanical' were given on line 6 already."),
    ]
    assert parsed.entries.empty


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("code,measure,score\n5,a,1\n", "Missing column(s): level."),
        ("code,level,measure,score\n", "The file holds no rows."),
        ("code,level,measure,score\n5,7,a,1\n", "Level '7' is not one of 1, 2, 3, 4."),
        ("code,level,measure,score\n5,1,a,inf\n", "Score 'inf' is not a number."),
    ],
)
def test_file_level_errors(text: str, message: str) -> None:
    parsed = jem.parse_csv(text.encode())
    assert any(message in e.message for e in parsed.errors), parsed.errors


def test_measure_labels_from_the_file_or_the_code() -> None:
    parsed = jem.parse_csv(
        "code,level,measure,score,measure_label\n5,1,job_control,1,Job control (low)\n"
        "5,1,lifting,2,\n"
    )
    assert parsed.measure_labels == {"job_control": "Job control (low)", "lifting": "Lifting"}


def test_a_nul_in_a_cell_is_an_error_on_its_line() -> None:
    parsed = jem.parse_csv(
        b"code,level,measure,score,measure_label\n5,1,lifting,2,Lif\x00ting\n5,1,job\x00,1,\n"
    )
    assert not parsed.ok
    nul = "Contains a character that is not allowed: NUL (U+0000)."
    assert [(e.line, e.column, e.message) for e in parsed.errors] == [
        (2, "measure_label", nul),
        (3, "measure", nul),
    ]
