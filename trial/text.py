"""Text going into the database and out to spreadsheets: the one place each rule is kept.

* :func:`unstorable_character`: PostgreSQL ``text`` cannot hold NUL (U+0000), and an unpaired
  surrogate (U+D800 to U+DFFF) cannot be encoded as UTF-8 at all, so neither may reach a query
  or a stored value. Requests are checked by ``config.characters.InvalidCharactersMiddleware``;
  uploaded files by their importers, row by row.
* :func:`spreadsheet_cell`: every CSV the system writes passes its cells through this, so that
  a spreadsheet opening the file never runs a cell as a formula (CSV injection).
"""

from __future__ import annotations

import re
from typing import Any

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A plain number written as text ("-12", "-0.5", "1e-3"): a spreadsheet reads it as a number
# and runs nothing, so it is left as it is.
PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def unstorable_character(value: str) -> str | None:
    """The first character of ``value`` the database cannot store, named for people
    ("NUL (U+0000)", "U+D800"), or None when there is none."""
    match = UNSTORABLE.search(value)
    if match is None:
        return None
    code = ord(match.group())
    return "NUL (U+0000)" if code == 0 else f"U+{code:04X}"


def printable(value: str) -> str:
    """``value`` with the characters the database cannot store replaced by U+FFFD, for a
    message that names it."""
    return UNSTORABLE.sub("\ufffd", value)


def spreadsheet_cell(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula (starting with ``=``, ``+``,
    ``-``, ``@``, a tab or a carriage return) prefixed with an apostrophe; anything else,
    numbers, dates and plain numbers written as text included, unchanged.

    Text that starts with apostrophes and then one of those characters gets one apostrophe
    more, so that taking one apostrophe off every cell that starts with apostrophes and then
    one of ``FORMULA_START`` gives back exactly what was written (the R script of the data-set
    exports does so; a spreadsheet shows a cell's text after its first apostrophe)."""
    if (
        isinstance(value, str)
        and value.lstrip("'").startswith(FORMULA_START)
        and not PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value
