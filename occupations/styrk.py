"""The STYRK-08 occupation code list (Norway's version of ISCO-08), as a pure module.

No Django models are imported here, so ``trial`` (and ``pathways``) can validate occupation codes
without depending on the ``occupations`` app. The list is read once from
``occupations/data/styrk08.csv`` (see ``occupations/data/README.md`` for source and licence).

Codes are strings of 1 to 4 digits: ``"5"`` major group, ``"52"`` sub-major group, ``"522"`` minor
group, ``"5223"`` unit group. A code's parent is its prefix one digit shorter.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DATA_FILE = Path(__file__).resolve().parent / "data" / "styrk08.csv"

UNIT_LEVEL = 4


@dataclass(frozen=True)
class Occupation:
    code: str
    level: int
    parent: str
    name_nb: str
    name_en: str = ""

    def name(self, lang: str = "nb") -> str:
        if lang.startswith("en") and self.name_en:
            return self.name_en
        return self.name_nb


class UnknownCodeError(ValueError):
    """An occupation code that is not in the STYRK-08 list; the message names the code."""

    def __init__(self, code: object) -> None:
        self.code = code
        super().__init__(f"Unknown STYRK-08 code '{code}'")


def read_code_file(path: Path | str) -> dict[str, Occupation]:
    """Read a code list in SSB KLASS CSV export format (``code;parentCode;level;name``).

    An optional ``name_en`` column holds English titles. The delimiter (``;`` or ``,``) is sniffed
    and the encoding may be UTF-8 (with or without BOM) or cp1252, as KLASS exports vary.
    """
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252")
    first = text.splitlines()[0] if text else ""
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    rows = csv.DictReader(text.splitlines(), delimiter=delimiter)
    codes: dict[str, Occupation] = {}
    for row in rows:
        code = (row.get("code") or "").strip()
        if not code:
            continue
        codes[code] = Occupation(
            code=code,
            level=int(row.get("level") or len(code)),
            parent=(row.get("parentCode") or "").strip(),
            name_nb=(row.get("name") or "").strip(),
            name_en=(row.get("name_en") or "").strip(),
        )
    return codes


@lru_cache(maxsize=1)
def codes() -> dict[str, Occupation]:
    """All codes of the shipped list, by code (loaded once)."""
    return read_code_file(DATA_FILE)


def normalise(code: object) -> str:
    """The code as a string without surrounding spaces (``None`` becomes ``""``)."""
    return "" if code is None else str(code).strip()


def is_valid(code: object, *, allow_groups: bool = False) -> bool:
    """True when ``code`` is a STYRK-08 unit group (4 digits).

    With ``allow_groups=True`` the 1-3 digit major, sub-major and minor group codes count too.
    """
    found = codes().get(normalise(code))
    if found is None:
        return False
    return allow_groups or found.level == UNIT_LEVEL


def validate(code: object, *, allow_groups: bool = False) -> str:
    """Return the normalised code, or raise ``UnknownCodeError`` naming it."""
    if not is_valid(code, allow_groups=allow_groups):
        raise UnknownCodeError(normalise(code))
    return normalise(code)


def get(code: object) -> Occupation | None:
    return codes().get(normalise(code))


def label(code: object, lang: str = "nb") -> str:
    """The title of a code in ``lang`` (``nb`` or ``en``; English falls back to Norwegian)."""
    found = get(code)
    return found.name(lang) if found else ""


def parent_chain(code: object) -> list[Occupation]:
    """The code and its ancestors, most specific first (``5223, 522, 52, 5``)."""
    chain: list[Occupation] = []
    found = get(code)
    while found is not None:
        chain.append(found)
        found = get(found.parent) if found.parent else None
    return chain


def search(query: str, *, level: int | None = None, limit: int = 50) -> list[Occupation]:
    """Codes starting with ``query`` (digits) or whose title contains it (case-insensitive).

    Unit groups come first, then the groups; ``level`` keeps one level only.
    """
    q = query.strip().lower()
    items = sorted(codes().values(), key=lambda o: (len(o.code) != UNIT_LEVEL, o.code))
    if level is not None:
        items = [o for o in items if o.level == level]
    if not q:
        return items[:limit]
    if q.isdigit():
        return [o for o in items if o.code.startswith(q)][:limit]
    return [o for o in items if q in o.name_nb.lower() or q in o.name_en.lower()][:limit]
