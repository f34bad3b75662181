"""Monthly state sequences from dated spells: plain numpy over all of a trial's spells at once.

No ORM and no request here (``pathways.services`` loads the data and caches the result), so the
rules can be tested against hand-built cases and reused from a notebook.

**Time axis.** Sequences run in calendar months. Month 1 is the calendar month of the
participant's *anchor* day (their randomisation day, or the first day of a calendar month the
trial chose), and only days from the anchor on count in it; month *N* is the (N-1)th calendar
month after it, counted in full. The window of a participant is therefore from the anchor day to
the last day of month ``months``.

**A day's state.** On each day the state is that of the highest-priority spell covering it
(lowest priority number; equal priorities are broken by the alphabet's order, priority then
code). A day no spell covers is a gap: "no registered state". Open spells (no end date) run to
the end of the window.

**A month's state** follows the trial's rule:

* ``priority`` (the default, as register-based sequence studies usually do): the highest-priority
  state present on at least one day of the month; a month without any spell day is a gap.
* ``majority``: the state (or gap) covering most days of the month; ties go to the
  higher-priority state, and a state beats a gap on a tie.

Months that start after the day the register data are complete until are *not observed*
(``UNOBSERVED``), which is different from a gap.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

UNOBSERVED = -1
OUTSIDE = 255  # a day before the anchor or after the window, in the day grid only
Rule = Literal["priority", "majority"]


@dataclass(frozen=True)
class SequenceTable:
    """Sequences of ``len(participant_ids)`` participants over ``months`` months.

    ``values[i, k]`` is the state of participant i in month k+1: an index into ``codes`` (the
    alphabet in precedence order), ``len(codes)`` for a gap, or ``UNOBSERVED``.
    """

    participant_ids: npt.NDArray[np.int64]
    anchors: npt.NDArray[np.datetime64]
    codes: tuple[str, ...]
    values: npt.NDArray[np.int16]

    @property
    def gap(self) -> int:
        return len(self.codes)

    @property
    def months(self) -> int:
        return int(self.values.shape[1])

    def row_of(self, participant_id: int) -> int | None:
        found = np.flatnonzero(self.participant_ids == participant_id)
        return int(found[0]) if found.size else None

    def code_at(self, value: int) -> str | None:
        """The state code of a value; ``""`` for a gap and None when not observed."""
        if value == UNOBSERVED:
            return None
        return "" if value == self.gap else self.codes[value]


def _days(values: npt.NDArray[np.datetime64], origin: np.datetime64) -> npt.NDArray[np.int64]:
    return (values - origin).astype("timedelta64[D]").astype(np.int64)


def build(
    spells: pd.DataFrame,
    people: pd.DataFrame,
    *,
    n_states: int,
    months: int,
    rule: Rule = "priority",
    observed_until: dt.date | None = None,
) -> npt.NDArray[np.int16]:
    """The (participants × months) state values.

    ``people`` has ``participant_id`` and ``anchor`` (dates), one row per sequence, in the order
    of the result. ``spells`` has ``participant_id``, ``rank`` (0 = highest precedence, below
    ``n_states``), ``starts_on`` and ``ends_on`` (NaT or None when open). Spells of people not
    listed are ignored.
    """
    n = len(people)
    values = np.full((n, months), n_states, dtype=np.int16)
    if n == 0:
        return values
    anchors = pd.to_datetime(people["anchor"]).to_numpy().astype("datetime64[D]")
    anchor_month = anchors.astype("datetime64[M]")
    first_month = anchor_month.min()
    last_month = anchor_month.max() + np.timedelta64(months - 1, "M")
    origin = first_month.astype("datetime64[D]")
    width = int(_days(np.array([(last_month + 1).astype("datetime64[D]")]), origin)[0])
    start_col = _days(anchors, origin)
    end_col = _days((anchor_month + months).astype("datetime64[D]"), origin) - 1

    # The day grid: OUTSIDE the window, else the gap until a spell paints it.
    cols = np.arange(width, dtype=np.int64)
    outside = (cols[None, :] < start_col[:, None]) | (cols[None, :] > end_col[:, None])
    grid = np.where(outside, np.uint8(OUTSIDE), np.uint8(n_states)).astype(np.uint8)
    del outside

    _paint(grid, spells, people, start_col, end_col, origin, n_states=n_states)

    month_starts = _days(
        np.arange(first_month, last_month + 1).astype("datetime64[D]"), origin
    ).astype(np.intp)
    monthly = _monthly(grid, month_starts, rule, n_states)
    first = (anchor_month - first_month).astype(np.int64)
    index = first[:, None] + np.arange(months)[None, :]
    values = np.take_along_axis(monthly, index, axis=1)
    if observed_until is not None:
        month_first_days = (anchor_month[:, None] + np.arange(months)[None, :]).astype(
            "datetime64[D]"
        )
        values[month_first_days > np.datetime64(observed_until, "D")] = UNOBSERVED
    return values.astype(np.int16)


def _paint(
    grid: npt.NDArray[np.uint8],
    spells: pd.DataFrame,
    people: pd.DataFrame,
    start_col: npt.NDArray[np.int64],
    end_col: npt.NDArray[np.int64],
    origin: np.datetime64,
    *,
    n_states: int,
) -> None:
    """Paint each spell's days into ``grid`` (in place), clipped to its person's window."""
    n, width = grid.shape
    row_index = pd.Index(people["participant_id"].to_numpy())
    rows = row_index.get_indexer(spells["participant_id"].to_numpy())
    keep = rows >= 0
    if not keep.any():
        return
    rows = rows[keep]
    ranks = spells["rank"].to_numpy()[keep].astype(np.int64)
    starts = _days(
        pd.to_datetime(spells["starts_on"]).to_numpy()[keep].astype("datetime64[D]"), origin
    )
    ends_raw = pd.to_datetime(spells["ends_on"]).to_numpy()[keep].astype("datetime64[D]")
    ends = np.where(np.isnat(ends_raw), np.iinfo(np.int64).max, 0)
    ends[~np.isnat(ends_raw)] = _days(ends_raw[~np.isnat(ends_raw)], origin)
    starts = np.maximum(starts, start_col[rows])
    ends = np.minimum(ends, end_col[rows])
    inside = starts <= ends
    rows, ranks, starts, ends = rows[inside], ranks[inside], starts[inside], ends[inside]
    # Highest precedence first: a later (lower) state only fills days still in a gap.
    for rank in np.unique(ranks):
        mine = ranks == rank
        edges = np.zeros((n, width + 1), dtype=np.int16)
        np.add.at(edges, (rows[mine], starts[mine]), 1)
        np.add.at(edges, (rows[mine], ends[mine] + 1), -1)
        covered = np.cumsum(edges, axis=1, dtype=np.int16)[:, :width] > 0
        grid[covered & (grid == n_states)] = rank


def _monthly(
    grid: npt.NDArray[np.uint8], month_starts: npt.NDArray[np.intp], rule: Rule, n_states: int
) -> npt.NDArray[np.int16]:
    """Each calendar month's state from the day grid, by the trial's rule."""
    if rule == "priority":
        return np.minimum.reduceat(grid, month_starts, axis=1).astype(np.int16)
    counts = np.stack(
        [
            np.add.reduceat((grid == value).astype(np.int16), month_starts, axis=1)
            for value in range(n_states + 1)
        ]
    )
    return counts.argmax(axis=0).astype(np.int16)  # first maximum: highest precedence


def distribution(
    values: npt.NDArray[np.int16], n_values: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Counts of each value (states then the gap) per month, and the observed total per month.

    Returns ``(counts, totals)`` with ``counts`` of shape (n_values, months); months not observed
    for a participant are left out of both.
    """
    counts = np.stack([(values == v).sum(axis=0) for v in range(n_values)]).astype(np.int64)
    totals = (values != UNOBSERVED).sum(axis=0).astype(np.int64)
    return counts, totals


def index_sample(values: npt.NDArray[np.int16], size: int, seed: int) -> npt.NDArray[np.int64]:
    """Row numbers of a reproducible random sample of ``size`` sequences, sorted for an index
    plot: lexicographically by month 1, then month 2, and so on."""
    n = values.shape[0]
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(n, size=min(size, n), replace=False)) if n else np.array([], int)
    if chosen.size == 0:
        return chosen.astype(np.int64)
    sample = values[chosen]
    order = np.lexsort(sample.T[::-1])
    return chosen[order].astype(np.int64)


def runs(row: npt.NDArray[np.int16]) -> list[tuple[int, int, int]]:
    """A sequence as runs of equal values: (first month index, length, value)."""
    if row.size == 0:
        return []
    change = np.flatnonzero(np.diff(row)) + 1
    starts = np.concatenate([[0], change])
    lengths = np.diff(np.concatenate([starts, [row.size]]))
    return [(int(s), int(n), int(row[s])) for s, n in zip(starts, lengths, strict=True)]
