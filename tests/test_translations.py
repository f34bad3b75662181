"""The Norwegian catalogue is complete, and the committed .mo matches the .po.

The .mo is committed because a fresh machine may have no GNU gettext; these tests catch a
string left untranslated or fuzzy after ``make translations``, and a .po edited without
running ``compilemessages`` afterwards.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.conf import settings

from tests.conftest import IN_CI

IGNORED = ["--ignore=.venv", "--ignore=var", "--ignore=static/vendor"]
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


def test_every_string_marked_in_the_code_is_in_the_catalogue(tmp_path: Path) -> None:
    """A string marked for translation in Python, a template or JavaScript but never added to
    the catalogue reads English on a Norwegian page; the checks above cannot see it. Extract the
    marked strings from a copy of the sources, as ``make translations`` does, and compare."""
    if shutil.which("xgettext") is None:
        if IN_CI:
            pytest.fail("GNU gettext (xgettext) is needed under CI=true", pytrace=False)
        pytest.skip("GNU gettext (xgettext) is not installed")
    base = Path(settings.BASE_DIR)
    tracked = subprocess.run(
        [shutil.which("git") or "git", "ls-files", "-z"], cwd=base, capture_output=True, check=False
    ).stdout.split(b"\0")
    sources = [p.decode() for p in tracked if p and not p.startswith((b"locale/", b"tests/"))]
    assert sources, "the sources are read from git: run the tests in a checkout"
    for name in sources:
        if (base / name).is_file():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(base / name, tmp_path / name)
    (tmp_path / "locale" / "nb" / "LC_MESSAGES").mkdir(parents=True)
    for domain in ("django", "djangojs"):
        subprocess.run(
            [sys.executable, "manage.py", "makemessages", "-d", domain, "-l", "nb", *IGNORED],
            cwd=tmp_path,
            capture_output=True,
            check=True,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
        )
    missing = []
    for domain in ("django", "djangojs"):
        extracted = tmp_path / "locale" / "nb" / "LC_MESSAGES" / f"{domain}.po"
        ours = _catalogue() / f"{domain}.po"
        if not extracted.exists():
            continue
        have = _translations(polib.pofile(str(ours))) if ours.exists() else {}
        for entry in polib.pofile(str(extracted)):
            if entry.msgid and (entry.msgctxt, entry.msgid) not in have:
                where = entry.occurrences[0] if entry.occurrences else ("?", "")
                missing.append(f"{where[0]}:{where[1]}: {entry.msgid!r}")
    assert missing == [], "marked but not in the catalogue (add them, translated):\n" + "\n".join(
        missing
    )
