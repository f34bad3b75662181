"""What the data dictionary says about one column of a data set (:class:`ColumnInfo`): read by
every file format (``reports.render``, ``reports.file_formats``) and by de-identification
(``reports.exports``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ColumnInfo:
    """What the data dictionary and the Stata file say about one column of a data set.

    ``values``: value labels by the value as the CSV writes it (``True``/``False`` for yes/no,
    the code for a choice). In the .dta file yes/no is 0/1 and integer codes stay numbers, each
    with its value label; text codes are numbered 1, 2, … in the order given (``stata_codes``),
    labelled, and the dictionary lists the numbers.
    """

    label: str
    label_nb: str = ""
    values: dict[str, str] = field(default_factory=dict)
    instrument: str = ""
    versions: str = ""
    kind: str = ""
    unit: str = ""
    missing_codes: str = ""
    missing: dict[str, str] = field(default_factory=dict)
    """The missing-data codes and their labels (``missing_codes`` says the same in words), for
    the formats that declare them (SPSS user-missing values, Parquet metadata)."""

    def stata_codes(self) -> dict[str, int]:
        """Text codes numbered for the .dta file (empty when every code is an integer)."""
        codes = [c for c in self.values if c not in {"True", "False"}]
        if all(re.fullmatch(r"-?\d+", c) for c in codes):
            return {}
        return {code: number for number, code in enumerate(codes, 1)}
