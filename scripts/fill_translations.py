"""Fill Norwegian translations into the .po catalogue from a Python dict file, then compile.

Usage: python scripts/fill_translations.py TRANSLATIONS.py
The file defines T = {(msgid, msgctxt): msgstr} and optionally PLURAL = {msgid: [one, many]}.
Entries given are set and un-fuzzied; the rest are left alone. Prints what is still missing.
"""

import runpy
import sys
from pathlib import Path

import polib

PO = Path(__file__).resolve().parent.parent / "locale" / "nb" / "LC_MESSAGES" / "django.po"


def main() -> None:
    data = runpy.run_path(sys.argv[1])
    singular, plural = data.get("T", {}), data.get("PLURAL", {})
    po = polib.pofile(str(PO))
    for entry in po:
        key = (entry.msgid, entry.msgctxt)
        if key in singular:
            entry.msgstr = singular[key]
        elif entry.msgid in plural:
            one, many = plural[entry.msgid]
            entry.msgstr_plural = {0: one, 1: many}
        else:
            continue
        if "fuzzy" in entry.flags:
            entry.flags.remove("fuzzy")
        entry.previous_msgid = None
        entry.previous_msgctxt = None
        entry.previous_msgid_plural = None
    po.save()
    po.save_as_mofile(str(PO.with_suffix(".mo")))
    missing = [e.msgid for e in po if not e.translated() or "fuzzy" in e.flags]
    for msgid in missing:
        print("missing:", msgid)  # noqa: T201


if __name__ == "__main__":
    main()
