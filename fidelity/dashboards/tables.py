"""The figure tables of the two dashboards, each shown beside its chart by one template
(``fidelity/_figure_table.html``): a caption, a first column naming the row and numeric
columns, each printed as the page always printed it (``floatformat``, "–" for no value)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.template.defaultfilters import floatformat

from trial.charts import Chart


def per_cent(heading: str) -> str:
    """A heading with a per cent sign, translated as the template did: ``{% translate %}`` looks
    up its text with every % doubled (as the catalogue has it) and undoubles the answer, so the
    callers pass ``_("Reached %%")``."""
    return heading.replace("%%", "%")


@dataclass(frozen=True)
class Column:
    """A numeric column: ``decimals`` None prints the value as it is; otherwise
    ``floatformat:decimals``, with "–" for no value when ``dash``."""

    heading: str
    field: str
    decimals: int | None = None
    dash: bool = True

    def cell(self, row: dict[str, Any]) -> Any:
        value = row.get(self.field)
        if self.decimals is None:
            return value
        text = floatformat(value, self.decimals)
        return "–" if self.dash and not text else text


@dataclass(frozen=True)
class Row:
    """One row: ``key`` and ``name`` name it (shown as ``head`` says), ``cells`` its figures."""

    key: Any
    name: str
    cells: list[Any]
    is_control: bool = False


@dataclass(frozen=True)
class Table:
    """``head``: "arm" (code and name, and a badge on the control arm when ``badge``), "site"
    (the code, the name as its title) or "key" (the key alone)."""

    table_id: str
    caption: str
    heading: str
    columns: Sequence[Column]
    rows: list[Row]
    head: str = "key"
    badge: bool = False
    charts: list[tuple[Chart, str]] = field(default_factory=list)


def table(
    table_id: str,
    caption: str,
    heading: str,
    columns: Sequence[Column],
    rows: list[dict[str, Any]],
    *,
    head: str = "key",
    key: str = "key",
    badge: bool = False,
    charts: Sequence[tuple[Chart, str]] = (),
) -> Table:
    """A :class:`Table` from the dashboard's rows (``views.rows``), beside ``charts`` (each
    with the id of its element)."""
    return Table(
        table_id=table_id,
        caption=caption,
        heading=heading,
        columns=columns,
        rows=[
            Row(
                key=row[key],
                name=str(row.get("name", "")),
                cells=[column.cell(row) for column in columns],
                is_control=bool(row.get("is_control", False)),
            )
            for row in rows
        ],
        head=head,
        badge=badge,
        charts=list(charts),
    )
