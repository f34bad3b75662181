"""Turning a built report into files: HTML from a template, PDF with WeasyPrint, the ZIP of
data sets, and writing files atomically (a temporary name in the same folder, then
``os.replace``), so a reader never sees half a file."""

from __future__ import annotations

import base64
import functools
import io
import json
import math
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import pandas as pd
from django.conf import settings
from django.template.loader import render_to_string
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _

from reports import exports, file_formats
from reports.analysis.results import Figure, Section, Table
from reports.analysis.text import number, p_value
from reports.columns import ColumnInfo
from trial.text import spreadsheet_cell

STATA_VERSION = 118
STATA_NAME_MAX = 32
ZIP_DATE = (2000, 1, 1, 0, 0, 0)  # fixed member times: the same data give the same ZIP bytes


@contextmanager
def atomic_file(path: Path) -> Iterator[IO[bytes]]:
    """Open a temporary file next to ``path``; on success it replaces ``path`` in one step.

    On any error the temporary file is removed and ``path`` is left as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, on every path
        dir=path.parent, prefix=f".{path.name}.", suffix=".part", delete=False
    )
    try:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        os.replace(handle.name, path)
    except BaseException:
        handle.close()
        Path(handle.name).unlink(missing_ok=True)
        raise


def write_atomic(path: Path, write: Callable[[IO[bytes]], None]) -> int:
    """Write ``path`` atomically with ``write(handle)``; returns the size in bytes."""
    with atomic_file(path) as handle:
        write(handle)
    return path.stat().st_size


# --- column headers ----------------------------------------------------------------------

# Headers shown in the PDF for the machine names that tables (and their CSV files in the ZIP)
# use. A table's own ``labels`` win; a column named neither here nor there is shown as named.
HEADERS = {
    "arm": _("Arm"),
    "site": _("Site"),
    "month": _("Month"),
    "source": _("Source"),
    "label": _("Name"),
    "review_date": _("Review date"),
    "scale": _("Scale"),
    "total": _("Total"),
    "band": _("Band"),
    "participants": _("Participants"),
    "follow_months": _("Months of follow-up"),
    "contacts": _("Contacts"),
    "minutes": _("Minutes"),
    "contacts_per_month": _("Contacts per participant-month"),
    "minutes_per_month": _("Minutes per participant-month"),
    "employer_contacts": _("Employer contacts"),
    "employer_minutes": _("Employer contact minutes"),
    "reached": _("Reached"),
    "reached_share": _("Share reached"),
    "reached_specific": _("Reached with intervention-specific components"),
    "reached_specific_share": _("Share reached with intervention-specific components"),
    "contacted": _("Contacted"),
    "median": _("Median"),
    "q1": _("Lower quartile"),
    "q3": _("Upper quartile"),
    "employer_contacted": _("With an employer contact"),
    "employer_median": _("Median days to an employer contact"),
    "employer_q1": _("Lower quartile (employer)"),
    "employer_q3": _("Upper quartile (employer)"),
    "controls": _("Control participants"),
    "events": _("Exposure records"),
    "exposed": _("Exposed"),
    "share_exposed": _("Share exposed"),
    "new_exposed": _("Newly exposed"),
    "cumulative_exposed": _("Exposed so far"),
    "cumulative_share": _("Share exposed so far"),
    "site_events": _("Site-level events"),
    "recent_events": _("Recent exposure records"),
    "state": _("State"),
    "mean": _("Mean"),
    "sd": _("SD"),
    "ci_low": _("95% CI lower"),
    "ci_high": _("95% CI upper"),
    "n": _("n"),
    "from": _("From state"),
    "k": _("Number of types"),
    "asw": _("Average silhouette width"),
    "type": _("Type"),
    "medoid": _("Representative sequence"),
    "stage": _("Stage"),
    "item": _("Item"),
    "indicator": _("Indicator"),
    "measure": _("Measure"),
}


def header(table: Table, column: str) -> str:
    """The header a reader sees for ``column`` of ``table``."""
    return str(table.labels.get(column) or HEADERS.get(column) or column)


# --- numbers in tables -------------------------------------------------------------------


_P_COLUMN = re.compile(r"(^p$|^p[ _-]?value|p-value|^p\s|\bp$)", re.IGNORECASE)
_PERCENT_COLUMN = re.compile(r"(\(%\)|%$|percent|\bpct\b)", re.IGNORECASE)
_RATIO_COLUMN = re.compile(
    r"(ratio|\bRR\b|\bOR\b|\bHR\b|\bCI\b|estimate|difference|ci_|lower|upper|icc|coef|"
    r"effect|mean|sd\b|se\b|median|proportion|share|rate|completeness|(^|_)q[13]$|quartile)",
    re.IGNORECASE,
)


# Headers of the analyses' own tables, which are translated before they get here: the English
# patterns above cannot recognise "p-verdi" or "Estimat", so these are compared in the active
# language (a p-value printed as a ratio read "0,00").
TRANSLATED_KINDS = {
    "p": ("p-value", "p for interaction"),
    "ratio": (
        "Estimate",
        "95% CI lower",
        "95% CI upper",
        "Proportion",
        "Proportion exposed",
        "Mean",
        "SD",
        "Median months",
        "Mean cluster size",
        "CV of cluster size",
        "ICC (ANOVA)",
        "Design effect",
        "Log-rank chi-square",
        "Robust score statistic (F)",
    ),
}


@functools.lru_cache(maxsize=8)
def _translated_kinds(language: str | None) -> dict[str, str]:
    return {
        gettext(header): kind for kind, headers in TRANSLATED_KINDS.items() for header in headers
    }


def column_kind(name: str) -> str:
    """How a column's numbers are shown: ``p``, ``percent``, ``ratio`` or ``number``."""
    known = _translated_kinds(get_language()).get(name)
    if known:
        return known
    if _P_COLUMN.search(name):
        return "p"
    if _PERCENT_COLUMN.search(name):
        return "percent"
    if _RATIO_COLUMN.search(name):
        return "ratio"
    return "number"


def format_cell(value: Any, kind: str) -> str:
    """A table cell for readers, in the active language's number format: p-values as
    "< 0.001" or 3 decimals, percentages with one decimal, ratios and estimates with 2 (3
    below 0.1), counts as they are; empty as "–"."""
    if value is None or value is pd.NA or value is pd.NaT:
        return "–"
    if isinstance(value, bool):
        return str(_("yes") if value else _("no"))
    if isinstance(value, int):
        return number(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "–"
        if kind == "p":
            return p_value(value)
        if kind == "percent":
            return number(value, 1)
        if value.is_integer() and kind == "number" and abs(value) < 1e12:
            return number(int(value))
        if kind == "ratio" and 0 < abs(value) < 0.1:
            return number(value, 3)
        return number(value, 2)
    return str(value)


def _python(value: Any) -> Any:
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        try:
            return value.item()
        except (ValueError, AttributeError):
            return value
    return value


def _cell(value: Any, kind: str) -> dict[str, Any]:
    value = _python(value)
    if isinstance(value, float) and math.isnan(value):
        value = None
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    return {
        "text": format_cell(value, kind),
        "num": numeric,
        "date": hasattr(value, "year") and not numeric,
    }


def _shown_text(cell: dict[str, Any]) -> str:
    """A cell's text before a repeat blanked it."""
    return str(cell.get("value", cell["text"]))


def table_view(table: Table) -> dict[str, Any]:
    """A Table as header and formatted rows, for the template.

    ``rows`` are dicts: ``{"group": text}`` for a heading row before a group of rows (see
    :attr:`Table.group`), else ``{"cells": [...]}``; ``subtitle`` is the group's value when
    all rows share it. Cells show :attr:`Table.shown` texts where given, and a cell of a
    :attr:`Table.runs` column that repeats the row above is blank (``"repeat"``), with
    ``"continued"`` on the cell above it.
    """
    frame = table.frame.drop(columns=[c for c in table.hidden if c in table.frame.columns])
    shown = {
        column: texts
        for column, texts in table.shown.items()
        if column in frame.columns and len(texts) == len(frame)
    }
    group = table.group if table.group in frame.columns else None
    groups: list[str] = []
    if group is not None:
        groups = [
            str(shown[group][i]) if group in shown else format_cell(_python(v), "number")
            for i, v in enumerate(frame[group])
        ]
        frame = frame.drop(columns=[group])
    subtitle = ""
    if group is not None and len(set(groups)) == 1:
        subtitle = _("%(name)s: %(value)s") % {"name": header(table, group), "value": groups[0]}
    columns = [str(c) for c in frame.columns]
    kinds = [column_kind(c) for c in columns]
    runs = [columns.index(c) for c in table.runs if c in columns]
    rows: list[dict[str, Any]] = []
    previous: list[dict[str, Any]] | None = None
    records = list(frame.itertuples(index=False, name=None))
    order = list(range(len(records)))
    if group is not None and not subtitle:
        # Rows of a group together (in the order the groups first come), each group once.
        first = {value: n for n, value in reversed(list(enumerate(groups)))}
        order.sort(key=lambda i: first[groups[i]])
    for n_shown, index in enumerate(order):
        record = records[index]
        if (
            group is not None
            and not subtitle
            and (n_shown == 0 or groups[index] != groups[order[n_shown - 1]])
        ):
            rows.append({"group": groups[index]})
            previous = None
        cells = [_cell(value, kind) for value, kind in zip(record, kinds, strict=True)]
        for position, column in enumerate(columns):
            if column in shown and shown[column][index] is not None:
                cells[position]["text"] = str(shown[column][index])
        for n, position in enumerate(runs):
            if previous is not None and all(
                _shown_text(cells[p]) == _shown_text(previous[p]) for p in runs[: n + 1]
            ):
                cells[position]["value"] = cells[position]["text"]
                cells[position]["text"] = ""
                cells[position]["repeat"] = True
                previous[position]["continued"] = True
        rows.append({"cells": cells})
        previous = cells
    return {
        "key": table.key,
        "title": table.title,
        "subtitle": subtitle,
        "wide": len(frame.columns) > 7,
        "columns": [header(table, c) for c in columns],
        "rows": rows,
        "notes": table.notes,
    }


def figure_view(figure: Figure) -> dict[str, Any]:
    svg = figure.svg[figure.svg.find("<svg") :] if "<svg" in figure.svg else figure.svg
    data = base64.b64encode(svg.encode()).decode()
    return {
        "key": figure.key,
        "title": figure.title,
        "src": f"data:image/svg+xml;base64,{data}",
        "table": table_view(figure.table),
    }


def section_view(section: Section, number: int | str) -> dict[str, Any]:
    return {
        "number": number,
        "anchor": "s-" + str(number).replace(".", "-"),
        "part": section.part,
        "key": section.key,
        "title": section.title,
        "text": section.text,
        "tables": [table_view(t) for t in section.tables],
        "figures": [figure_view(f) for f in section.figures],
        "problems": section.problems,
    }


# --- HTML and PDF --------------------------------------------------------------------------


def report_html(context: dict[str, Any]) -> str:
    return render_to_string("reports/report.html", context)


def write_pdf(html: str, path: Path) -> int:
    """Render ``html`` with WeasyPrint into ``path`` (atomically); returns the size."""
    from weasyprint import HTML

    document = HTML(string=html, base_url=str(settings.BASE_DIR)).render()
    return write_atomic(path, lambda handle: document.write_pdf(target=handle))


# --- the ZIP of data sets ------------------------------------------------------------------


def stata_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy pandas ``to_stata`` accepts: names of at most 32 characters, dates as
    datetimes, booleans as 0/1, text without missing values."""
    out = pd.DataFrame(index=frame.index)
    used: set[str] = set()
    for column in frame.columns:
        name = re.sub(r"[^A-Za-z0-9_]", "_", str(column))[:STATA_NAME_MAX] or "v"
        if name[0].isdigit():
            name = ("_" + name)[:STATA_NAME_MAX]
        base, n = name, 1
        while name in used:
            suffix = f"_{n}"
            name, n = base[: STATA_NAME_MAX - len(suffix)] + suffix, n + 1
        used.add(name)
        series = frame[column]
        sample = series.dropna()
        first = sample.iloc[0] if len(sample) else None
        if hasattr(first, "year") and not isinstance(first, pd.Timestamp):
            series = pd.to_datetime(series, errors="coerce")
        elif pd.api.types.is_bool_dtype(series.dtype) or isinstance(first, bool):
            series = series.map(lambda v: None if v is None or v is pd.NA else int(bool(v)))
            series = pd.to_numeric(series, errors="coerce")
        elif pd.api.types.is_numeric_dtype(series.dtype):
            series = series.astype(float)
        elif not pd.api.types.is_datetime64_any_dtype(series.dtype):
            series = series.map(lambda v: "" if v is None or v is pd.NA else str(v)).astype(object)
        out[name] = series
    return out


DICTIONARY_COLUMNS = [
    "data_set",
    "column",
    "type",
    "label",
    "values",
    "value_labels",
    "label_nb",
    "instrument",
    "versions",
    "kind",
    "unit",
    "missing_codes",
]


def dictionary_rows(
    name: str,
    frame: pd.DataFrame,
    labels: dict[str, str],
    columns: dict[str, ColumnInfo] | None = None,
) -> list[dict[str, str]]:
    """One row per column of ``frame``: its type, label, observed values, and what
    ``columns`` says of it (value labels, instrument and versions, kind, unit, missing-data
    codes)."""
    rows = []
    for column in frame.columns:
        info = (columns or {}).get(str(column))
        series = frame[column].dropna()
        values = ""
        if series.dtype == object or str(series.dtype) in ("string", "boolean", "bool"):
            distinct = sorted({str(v) for v in series.unique()})
            if 0 < len(distinct) <= 12 and column != "study_id":
                values = "; ".join(distinct)
        elif len(series) and pd.api.types.is_numeric_dtype(series.dtype):
            values = f"{series.min()} – {series.max()}"
        row = dict.fromkeys(DICTIONARY_COLUMNS, "") | {
            "data_set": name,
            "column": str(column),
            "type": _type_name(frame[column]),
            "label": labels.get(str(column), ""),
            "values": values,
        }
        if info is not None:
            numbered = info.stata_codes()
            row.update(
                label=info.label or row["label"],
                value_labels="; ".join(
                    f"{code} = {text}" + (f" (.dta: {numbered[code]})" if code in numbered else "")
                    for code, text in info.values.items()
                ),
                label_nb=info.label_nb,
                instrument=info.instrument,
                versions=info.versions,
                kind=info.kind,
                unit=info.unit,
                missing_codes=info.missing_codes,
            )
        rows.append(row)
    return rows


def _type_name(series: pd.Series) -> str:
    sample = series.dropna()
    first = sample.iloc[0] if len(sample) else None
    if pd.api.types.is_bool_dtype(series.dtype) or isinstance(first, bool):
        return "boolean"
    if hasattr(first, "year"):
        return "date"
    if pd.api.types.is_integer_dtype(series.dtype):
        return "integer"
    if pd.api.types.is_numeric_dtype(series.dtype):
        return "number"
    return "text"


def _csv(frame: pd.DataFrame) -> bytes:
    """The frame as CSV, every text cell and column name passed through
    ``trial.text.spreadsheet_cell`` so that no spreadsheet runs one as a formula; numeric,
    boolean and date columns are written as they are."""
    safe = frame.copy()
    for position, dtype in enumerate(frame.dtypes):
        # Object, string and categorical columns hold text (object ones may mix in numbers,
        # which spreadsheet_cell leaves alone).
        if pd.api.types.is_string_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
            safe.isetitem(position, frame.iloc[:, position].astype(object).map(spreadsheet_cell))
    safe.columns = [spreadsheet_cell(column) for column in frame.columns]
    return safe.to_csv(index=False, lineterminator="\n").encode()


safe_csv = _csv  # the public name, for sections outside reports/ that add files to the ZIP


def _dta(frame: pd.DataFrame, label: str, columns: dict[str, ColumnInfo] | None = None) -> bytes:
    """The data set as Stata 118, with variable labels and value labels from ``columns``."""
    data = stata_frame(frame)
    names = dict(zip(frame.columns, data.columns, strict=True))
    variable_labels: dict[str, str] = {}
    value_labels: dict[str, dict[float, str]] = {}
    for column, info in (columns or {}).items():
        name = names.get(column)
        if name is None:
            continue
        variable_labels[name] = info.label[:80]
        if not info.values:
            continue
        numbered = info.stata_codes()
        if numbered:
            data[name] = frame[column].map(numbered).astype(float).to_numpy()
            value_labels[name] = {float(n): info.values[c][:32000] for c, n in numbered.items()}
        elif pd.api.types.is_numeric_dtype(data[name].dtype):
            value_labels[name] = {
                float(1 if code == "True" else 0 if code == "False" else int(code)): text[:32000]
                for code, text in info.values.items()
            }
    buffer = io.BytesIO()
    data.to_stata(
        buffer,
        write_index=False,
        version=STATA_VERSION,
        data_label=label[:80],
        variable_labels=variable_labels or None,
        value_labels=value_labels or None,
    )
    return buffer.getvalue()


def write_zip(
    path: Path,
    *,
    data_sets: dict[str, pd.DataFrame],
    labels: dict[str, str],
    tables: list[Table],
    meta: dict[str, Any],
    readme: str,
    files: dict[str, bytes] | None = None,
    columns: dict[str, dict[str, ColumnInfo]] | None = None,
    formats: tuple[str, ...] = exports.DEFAULT_FORMATS,
) -> int:
    """The analysis ZIP: each data set in the ``formats`` chosen (by default CSV and Stata .dta
    v118; also SPSS .sav, Parquet, and for R the CSV with ``load_data.R``), the data
    dictionary, every results table as CSV, ``files`` as given (e.g. ``consort.svg``) and
    report.json with the provenance. ``columns`` (by data set, then column) gives labels, value
    labels and the instrument of the columns it names, in the dictionary and every format.
    Written atomically."""

    def write(handle: IO[bytes]) -> None:
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:

            def add(name: str, content: bytes) -> None:
                info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, content)

            add("README.txt", readme.encode())
            dictionary: list[dict[str, str]] = []
            for name, frame in data_sets.items():
                info = (columns or {}).get(name)
                if exports.CSV in formats or exports.R in formats:
                    add(f"{name}.csv", _csv(frame))
                if exports.STATA in formats:
                    add(f"{name}.dta", _dta(frame, name, info))
                if exports.SPSS in formats:
                    add(f"{name}.sav", file_formats.sav_bytes(frame, name, info, labels))
                if exports.PARQUET in formats:
                    add(f"{name}.parquet", file_formats.parquet_bytes(frame, name, info, labels))
                dictionary.extend(dictionary_rows(name, frame, labels, info))
            if exports.R in formats:
                script = file_formats.r_script(
                    str(meta.get("trial", "")), data_sets, columns, labels
                )
                add(exports.R_SCRIPT, script.encode())
            add(
                "data_dictionary.csv",
                _csv(pd.DataFrame(dictionary, columns=DICTIONARY_COLUMNS)),
            )
            for table in tables:
                add(f"tables/{table.key}.csv", _csv(table.frame))
            for name, content in (files or {}).items():
                add(name, content)
            add("report.json", json.dumps(meta, indent=2, ensure_ascii=False).encode())

    return write_atomic(path, write)
