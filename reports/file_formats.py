"""The SPSS, Parquet and R files of the data sets, each with the labels the data dictionary
gives (``reports.columns.ColumnInfo``); see :mod:`reports.exports` for the formats offered."""

from __future__ import annotations

import io
import json
import re
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reports.columns import ColumnInfo
from reports.exports import R_SCRIPT, is_date_column

SPSS_RESERVED = frozenset(
    {"all", "and", "by", "eq", "ge", "gt", "le", "lt", "ne", "not", "or", "to", "with"}
)


SPSS_NAME_MAX = 64


SPSS_LABEL_BYTES = 256  # a variable label


SPSS_VALUE_LABEL_BYTES = 120  # a value label


INTEGER = re.compile(r"-?\d+")


def storage(series: pd.Series, info: ColumnInfo | None = None) -> str:
    """How a column is written: ``boolean``, ``number``, ``date`` or ``text``. A column without
    any value is a date when the dictionary says so, or, for the columns the pipeline adds
    (``randomised_on``, ``withdrawn_on``, …), when its name ends in ``_on``."""
    sample = series.dropna()
    if not len(sample) and (
        (info is not None and info.kind == "date")
        or ((info is None or not info.kind) and str(series.name).endswith("_on"))
    ):
        return "date"
    first = sample.iloc[0] if len(sample) else None
    if pd.api.types.is_bool_dtype(series.dtype) or isinstance(first, bool | np.bool_):
        return "boolean"
    if is_date_column(series):
        return "date"
    if pd.api.types.is_numeric_dtype(series.dtype):
        return "number"
    return "text"


def labels_of_values(info: ColumnInfo | None) -> dict[str, str]:
    """The value labels a format attaches to the column's values."""
    if info is None:
        return {}
    return info.values


def _label(column: str, info: ColumnInfo | None, labels: Mapping[str, str]) -> str:
    return (info.label if info else "") or labels.get(column, "")


def _fit(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` bytes of UTF-8, on a character boundary."""
    return text.encode()[:limit].decode(errors="ignore")


def spss_names(columns: Iterable[Any]) -> dict[str, str]:
    """SPSS variable names for the columns: letters, digits and underscores, starting with a
    letter, at most 64 characters, no reserved word, unique without regard to case."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for column in map(str, columns):
        name = re.sub(r"[^A-Za-z0-9_]", "_", column)[:SPSS_NAME_MAX] or "v"
        if not name[0].isalpha():
            name = ("v" + name)[:SPSS_NAME_MAX]
        if name.lower() in SPSS_RESERVED:
            name += "_"
        base, n = name, 1
        while name.lower() in used:
            suffix = f"_{n}"
            name, n = base[: SPSS_NAME_MAX - len(suffix)] + suffix, n + 1
        used.add(name.lower())
        out[column] = name
    return out


def missing_numbers(codes: list[str], taken: Iterable[float]) -> dict[str, float]:
    """Numbers for a numeric variable's missing-data codes, to be declared user-missing: the
    codes themselves when all are whole numbers not otherwise used, else a block from -99
    (-999, -9999, … when -99 upwards would meet a value of the variable or a labelled code).
    Empty when no block fits."""
    used = {float(v) for v in taken if v is not None and not pd.isna(v)}
    if all(INTEGER.fullmatch(code) for code in codes):
        numbers = {code: float(code) for code in codes}
        if not used & set(numbers.values()):
            return numbers
    for digits in range(2, 16):
        low = -(10**digits - 1)
        block = [float(low + i) for i in range(len(codes))]
        if block[-1] < 0 and not any(block[0] <= value <= block[-1] for value in used):
            return dict(zip(codes, block, strict=True))
    return {}


def sav_bytes(
    frame: pd.DataFrame,
    name: str,
    info: Mapping[str, ColumnInfo] | None = None,
    labels: Mapping[str, str] | None = None,
) -> bytes:
    """The data set as an SPSS .sav file: variable labels, value labels (yes/no as 1/0, codes
    as they are, text codes as text), measurement levels, and each numeric item's missing-data
    codes as user-missing values with their labels (the answer's code, from ``<name>_missing``,
    is put in the variable itself)."""
    import pyreadstat

    info = info or {}
    labels = labels or {}
    names = spss_names(frame.columns)
    data = pd.DataFrame(index=frame.index)
    variable_labels: dict[str, str | None] = {}
    value_labels: dict[str, dict[Any, str]] = {}
    user_missing: dict[str, list[Any]] = {}
    measure: dict[str, str] = {}
    formats: dict[str, str] = {}
    for column in map(str, frame.columns):
        key, series, column_info = names[column], frame[column], info.get(column)
        kind = storage(series, column_info)
        if kind == "boolean":
            values = series.map(lambda v: np.nan if v is None or pd.isna(v) else float(bool(v)))
            values = values.astype(float)
        elif kind == "number":
            values = pd.to_numeric(series, errors="coerce").astype(float)
        elif kind == "date":
            # Timestamps, so that a column without any value is still a date (DATE11).
            values = pd.to_datetime(series, errors="coerce").astype("datetime64[ns]")
            formats[key] = "DATE11"
        else:
            values = series.map(lambda v: "" if v is None or pd.isna(v) else str(v))
            values = values.astype(object)
        label = _label(column, column_info, labels)
        if label:
            variable_labels[key] = _fit(label, SPSS_LABEL_BYTES)
        labelled: dict[Any, str] = {}
        for code, text in labels_of_values(column_info).items():
            if kind == "boolean" and code in ("True", "False"):
                labelled[1.0 if code == "True" else 0.0] = text
            elif kind == "number" and INTEGER.fullmatch(code):
                labelled[float(code)] = text
            elif kind == "text":
                labelled[code] = text
        if column_info is not None and column_info.missing and kind in ("boolean", "number"):
            numbers = missing_numbers(
                list(column_info.missing), [*values.dropna().unique(), *labelled]
            )
            if numbers:
                given = frame.get(f"{column}_missing")
                if given is not None:
                    codes = given.astype(object).map(numbers.get)
                    values = values.where(values.notna() | codes.isna(), codes).astype(float)
                labelled.update({number: column_info.missing[c] for c, number in numbers.items()})
                user_missing[key] = [{"lo": min(numbers.values()), "hi": max(numbers.values())}]
        if labelled:
            value_labels[key] = {k: _fit(v, SPSS_VALUE_LABEL_BYTES) for k, v in labelled.items()}
        if column_info is not None and column_info.kind == "ordinal":
            measure[key] = "ordinal"
        elif kind == "text" or labels_of_values(column_info):
            measure[key] = "nominal"
        else:
            measure[key] = "scale"
        data[key] = values
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.sav"
        pyreadstat.write_sav(
            data,
            str(path),
            file_label=name[:64],
            column_labels=variable_labels or None,
            variable_value_labels=value_labels or None,
            missing_ranges=user_missing or None,
            variable_measure=measure or None,
            variable_format=formats or None,
        )
        return path.read_bytes()


def parquet_bytes(
    frame: pd.DataFrame,
    name: str,
    info: Mapping[str, ColumnInfo] | None = None,
    labels: Mapping[str, str] | None = None,
) -> bytes:
    """The data set as Parquet. Each field's metadata holds its label (English and bokmål),
    value labels and missing-data codes (JSON), kind, unit, instrument and versions; a column
    whose value labels have text codes (choices, missing-data codes) is dictionary-encoded with
    every code of the dictionary as a category, in the dictionary's order. The labels are also
    in the pandas metadata (``DataFrame.attrs["labels"]``, ``attrs["value_labels"]``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    info = info or {}
    labels = labels or {}
    data = frame.copy()
    attrs_labels: dict[str, str] = {}
    attrs_values: dict[str, dict[str, str]] = {}
    for column in map(str, frame.columns):
        column_info = info.get(column)
        series = frame[column]
        codes = list(labels_of_values(column_info))
        if codes and storage(series, column_info) == "text":
            seen = [v for v in series.dropna().astype(str).unique() if v and v not in codes]
            values = series.astype(object).map(
                lambda v: None if v is None or pd.isna(v) or v == "" else str(v)
            )
            data[column] = pd.Categorical(values, categories=codes + sorted(seen))
        label = _label(column, column_info, labels)
        if label:
            attrs_labels[column] = label
        if column_info is not None and column_info.values:
            attrs_values[column] = dict(column_info.values)
    data.attrs = {"data_set": name, "labels": attrs_labels, "value_labels": attrs_values}
    table = pa.Table.from_pandas(data, preserve_index=False)
    types = {"boolean": pa.bool_(), "number": pa.float64(), "date": pa.date32()}
    for index, field in enumerate(table.schema):
        if pa.types.is_null(field.type):  # no value to type the column by
            typed = types.get(storage(frame[field.name], info.get(field.name)), pa.string())
            table = table.set_column(index, field.with_type(typed), table.column(index).cast(typed))
    fields = []
    for field in table.schema:
        column_info = info.get(field.name)
        metadata = {"label": _label(field.name, column_info, labels)}
        if column_info is not None:
            metadata |= {
                "label_nb": column_info.label_nb,
                "value_labels": json.dumps(column_info.values, ensure_ascii=False)
                if column_info.values
                else "",
                "missing_codes": json.dumps(column_info.missing, ensure_ascii=False)
                if column_info.missing
                else "",
                "kind": column_info.kind,
                "unit": column_info.unit,
                "instrument": column_info.instrument,
                "versions": column_info.versions,
            }
        fields.append(field.with_metadata({k: v for k, v in metadata.items() if v}))
    schema = pa.schema(fields, metadata={**(table.schema.metadata or {}), b"data_set": name})
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_arrays(table.columns, schema=schema), buffer)
    return buffer.getvalue()


def r_string(text: str) -> str:
    """``text`` as an R string literal in plain ASCII (escapes for everything else), so the
    script reads the same in any locale."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif 32 <= code < 127:
            out.append(char)
        elif code <= 0xFFFF:
            out.append(f"\\u{{{code:04x}}}")
        else:
            out.append(f"\\U{{{code:08x}}}")
    out.append('"')
    return "".join(out)


def _r_vector(values: Iterable[str]) -> str:
    return "c(" + ", ".join(r_string(v) for v in values) + ")"


R_CLASSES = {"boolean": "logical", "number": "numeric", "date": "Date", "text": "character"}


# The apostrophe trial.text.spreadsheet_cell puts before text a spreadsheet would run, as an R
# string literal (a PCRE): one is taken off every cell that starts with apostrophes and then one
# of its FORMULA_START characters, which gives back exactly the text written.
R_FORMULA = "^'+[-=+@\\\\t\\\\r]"


R_HEADER = """\
# The analysis data sets of trial {trial}.
# Reads the analysis data sets of this export and applies the labels of the data dictionary.
# In R: setwd() to the folder the ZIP was unpacked into, then source("{script}").
# Result: trial_data, a list of data frames ({names}).
# Every column has attr(, "label") (English) and attr(, "label_nb") (bokmal) where known. A
# column with value labels keeps its codes and gets a factor beside it, <name>.factor, whose
# levels are the labels in the data dictionary's order (ordered for ordinal items), as in
# REDCap's R export. An answer given as a missing-data code is NA; its code is in
# <name>_missing. Text a spreadsheet would run as a formula was written to the CSV with a
# leading apostrophe, which is taken off here. Base R only; no package is needed.

.wt_text <- function(x) {{
  quoted <- !is.na(x) & grepl("{formula}", x, perl = TRUE)
  x[quoted] <- substring(x[quoted], 2)
  x
}}
.wt_read <- function(file, classes) {{
  d <- utils::read.csv(file, colClasses = classes, na.strings = "", fileEncoding = "UTF-8",
                       check.names = FALSE, stringsAsFactors = FALSE)
  for (n in names(classes)[classes == "character"]) d[[n]] <- .wt_text(d[[n]])
  d
}}
.wt_label <- function(d, name, label, label_nb = NULL) {{
  attr(d[[name]], "label") <- label
  if (!is.null(label_nb)) attr(d[[name]], "label_nb") <- label_nb
  d
}}
.wt_factor <- function(d, name, codes, labels, ordered = FALSE) {{
  f <- factor(as.character(d[[name]]), levels = codes, labels = labels, ordered = ordered)
  attr(f, "label") <- attr(d[[name]], "label")
  d[[paste0(name, ".factor")]] <- f
  d
}}

trial_data <- list()
"""


def r_script(
    trial: str,
    data_sets: Mapping[str, pd.DataFrame],
    columns: Mapping[str, Mapping[str, ColumnInfo]] | None = None,
    labels: Mapping[str, str] | None = None,
) -> str:
    """``load_data.R`` for the data sets of ``trial`` (its code): reads each data set's CSV with
    the right column classes (text stays text, so codes such as ``0110`` keep their zeros),
    labels every column and adds a factor for each column with value labels. Every text that
    comes from the trial (labels, codes, names) is an ASCII string literal (:func:`r_string`),
    so none can end a literal or a comment and run as R."""
    columns = columns or {}
    labels = labels or {}
    lines = [
        R_HEADER.format(
            # Only the characters of a code: nothing typed may end the comment line and run.
            trial=re.sub(r"[^A-Za-z0-9_-]", "_", trial),
            script=R_SCRIPT,
            names=", ".join(f"trial_data${name}" for name in data_sets),
            formula=R_FORMULA,
        )
    ]
    for name, frame in data_sets.items():
        info = columns.get(name, {})
        kinds = {str(c): storage(frame[c], info.get(str(c))) for c in frame.columns}
        classes = ", ".join(f"{r_string(c)} = {r_string(R_CLASSES[k])}" for c, k in kinds.items())
        lines.append(f"d <- .wt_read({r_string(name + '.csv')}, c({classes}))")
        for column, kind in kinds.items():
            column_info = info.get(column)
            label = _label(column, column_info, labels)
            if label:
                extra = (
                    f", {r_string(column_info.label_nb)}"
                    if column_info is not None and column_info.label_nb
                    else ""
                )
                lines.append(f"d <- .wt_label(d, {r_string(column)}, {r_string(label)}{extra})")
            pairs = list(labels_of_values(column_info).items())
            if kind == "boolean":
                pairs = [(c.upper(), t) for c, t in pairs if c in ("True", "False")]
            elif kind == "number":
                pairs = [(str(int(c)), t) for c, t in pairs if INTEGER.fullmatch(c)]
            if not pairs or column_info is None:
                continue
            ordered = ", ordered = TRUE" if column_info.kind == "ordinal" else ""
            lines.append(
                f"d <- .wt_factor(d, {r_string(column)}, {_r_vector(c for c, _t in pairs)}, "
                f"{_r_vector(t for _c, t in pairs)}{ordered})"
            )
        lines.append(f"trial_data[[{r_string(name)}]] <- d")
        lines.append("")
    lines.append("rm(d)")
    return "\n".join(lines) + "\n"
