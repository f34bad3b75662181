"""The shipped STYRK-08 list: counts per level, hierarchy, lookups, loading a KLASS export."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from occupations import styrk


def test_counts_per_level_match_the_ssb_list() -> None:
    # SSB KLASS classification 7 (STYRK-08, 2011): 10 major, 43 sub-major, 122 minor and 407
    # unit groups, counted in the source file (occupations/data/README.md).
    levels = [o.level for o in styrk.codes().values()]
    assert [levels.count(level) for level in (1, 2, 3, 4)] == [10, 43, 122, 407]
    assert sorted(o.code for o in styrk.codes().values() if o.level == 1) == list("0123456789")


def test_every_code_has_its_parents_one_level_up() -> None:
    codes = styrk.codes()
    for occupation in codes.values():
        assert len(occupation.code) == occupation.level
        if occupation.level == 1:
            assert occupation.parent == ""
            continue
        assert occupation.parent == occupation.code[:-1]
        assert codes[occupation.parent].level == occupation.level - 1
    for occupation in (o for o in codes.values() if o.level == 4):
        assert [o.level for o in styrk.parent_chain(occupation.code)] == [4, 3, 2, 1]
        assert occupation.name_nb


def test_is_valid_label_and_parent_chain() -> None:
    assert styrk.is_valid("5223") and styrk.is_valid(" 9112 ")
    assert not styrk.is_valid("9999") and not styrk.is_valid("") and not styrk.is_valid(None)
    assert not styrk.is_valid("52")  # a group is not a unit group…
    assert styrk.is_valid("52", allow_groups=True)  # …unless the caller allows groups
    assert not styrk.is_valid("1113")  # ISCO-08 traditional chiefs: not in STYRK-08
    assert styrk.is_valid("2224")  # vernepleiere: a Norwegian unit group
    assert styrk.label("5223") == "Butikkmedarbeidere"
    assert styrk.label("52", "en") == "Sales Workers"
    assert styrk.label("5223", "en") == "Butikkmedarbeidere"  # no English title at level 4
    assert [o.code for o in styrk.parent_chain("7411")] == ["7411", "741", "74", "7"]
    with pytest.raises(styrk.UnknownCodeError, match="Unknown STYRK-08 code '9999'"):
        styrk.validate("9999")


def test_search_by_code_prefix_and_title() -> None:
    assert [o.code for o in styrk.search("522")] == ["5221", "5222", "5223", "522"]
    assert "2223" in [o.code for o in styrk.search("sykepleiere")]
    assert "52" in [o.code for o in styrk.search("sales workers")]


KLASS_EXPORT = (
    '"code";"parentCode";"level";"name";"shortName";"notes"\n'
    '"5";"";"1";"Salgs- og serviceyrker";"";""\n'
    '"52";"5";"2";"Salgsyrker";"";""\n'
    '"522";"52";"3";"Butikkselgere";"";""\n'
    '"5223";"522";"4";"Butikkmedarbeidere";"";""\n'
)


def test_load_occupation_codes_installs_a_klass_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "styrk08.csv"
    target.write_text(styrk.DATA_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(styrk, "DATA_FILE", target)
    styrk.codes.cache_clear()
    export = tmp_path / "klass.csv"
    export.write_bytes(KLASS_EXPORT.encode("cp1252"))  # KLASS exports may be Windows-1252
    try:
        call_command("load_occupation_codes", str(export))
        codes = styrk.codes()
        assert sorted(codes) == ["5", "52", "522", "5223"]
        assert codes["52"].name_en == "Sales Workers"  # English titles kept
        broken = tmp_path / "broken.csv"
        broken.write_text(KLASS_EXPORT.replace('"522";"52"', '"522";"53"'), encoding="utf-8")
        with pytest.raises(CommandError, match="1 problem"):
            call_command("load_occupation_codes", str(broken))
    finally:
        styrk.codes.cache_clear()
