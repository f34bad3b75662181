"""The Norwegian catalogue is complete, and the committed .mo matches the .po.

The .mo is committed because a fresh machine may have no GNU gettext; these tests catch a
string left untranslated or fuzzy after ``make translations``, and a .po edited without
running ``compilemessages`` afterwards.
"""

from __future__ import annotations

import re
from pathlib import Path

import polib
from django.conf import settings

Key = tuple[str | None, str]  # (msgctxt, msgid)
Translation = str | tuple[str, ...]


def _catalogue(language: str = "nb") -> Path:
    return Path(settings.LOCALE_PATHS[0]) / language / "LC_MESSAGES"


def _nplurals(po: polib.POFile) -> int:
    match = re.search(r"nplurals\s*=\s*(\d+)", po.metadata.get("Plural-Forms", ""))
    assert match, "the .po header has no Plural-Forms with nplurals"
    return int(match.group(1))


def _is_translated(entry: polib.POEntry, nplurals: int) -> bool:
    if entry.msgid_plural:
        forms = [entry.msgstr_plural.get(i, "") for i in range(nplurals)]
        return all(forms)
    return entry.msgstr != ""


def _translations(entries: list[polib.POEntry] | polib.MOFile) -> dict[Key, Translation]:
    result: dict[Key, Translation] = {}
    for entry in entries:
        if entry.msgid == "":  # the header
            continue
        if entry.msgid_plural:
            forms = tuple(entry.msgstr_plural[i] for i in sorted(entry.msgstr_plural))
            result[(entry.msgctxt, entry.msgid)] = forms
        else:
            result[(entry.msgctxt, entry.msgid)] = entry.msgstr
    return result


def test_norwegian_catalogue_has_no_untranslated_or_fuzzy_entries() -> None:
    po = polib.pofile(str(_catalogue() / "django.po"))
    nplurals = _nplurals(po)
    live = [e for e in po if not e.obsolete]
    assert live, "the Norwegian catalogue is empty; run `make translations`"

    untranslated = [e.msgid for e in live if not e.fuzzy and not _is_translated(e, nplurals)]
    fuzzy = [e.msgid for e in live if e.fuzzy]
    problems = []
    if po.metadata_is_fuzzy:
        problems.append("the header is marked fuzzy")
    if untranslated:
        problems.append("untranslated: " + "; ".join(repr(m) for m in untranslated))
    if fuzzy:
        problems.append("fuzzy: " + "; ".join(repr(m) for m in fuzzy))
    assert not problems, "locale/nb/LC_MESSAGES/django.po: " + "\n".join(problems)


def test_compiled_norwegian_catalogue_matches_the_po_file() -> None:
    directory = _catalogue()
    po = polib.pofile(str(directory / "django.po"))
    mo_path = directory / "django.mo"
    assert mo_path.exists(), "django.mo is missing; run `make translations`"
    mo = polib.mofile(str(mo_path))

    # msgfmt leaves out fuzzy, untranslated and obsolete entries, so compare translated ones.
    expected = _translations(po.translated_entries())
    compiled = _translations(mo)
    missing = sorted(m for _, m in expected.keys() - compiled.keys())
    stale = sorted(m for _, m in compiled.keys() - expected.keys())
    different = sorted(
        msgid
        for key in expected.keys() & compiled.keys()
        if expected[key] != compiled[key]
        for _, msgid in [key]
    )
    assert not (missing or stale or different), (
        "django.mo is out of date with django.po; run `manage.py compilemessages`.\n"
        f"not in .mo: {missing}\nonly in .mo: {stale}\ntranslated differently: {different}"
    )
