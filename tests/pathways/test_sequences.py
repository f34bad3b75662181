"""The month rules of pathways.sequences against hand-worked cases.

Every expected sequence below was worked out by hand from the calendar (2024 is a leap year:
February has 29 days). States are ranks: 0 is the highest priority; GAP is "no registered
state"; U is "not observed".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from pathways import sequences

D = dt.date
N_STATES = 3  # ranks 0, 1, 2
GAP = N_STATES
U = sequences.UNOBSERVED


def build(
    spells: Sequence[tuple[int, int, dt.date, dt.date | None]],
    people: Sequence[tuple[int, dt.date]],
    *,
    months: int = 4,
    rule: sequences.Rule = "priority",
    observed_until: dt.date | None = None,
) -> list[list[int]]:
    spell_frame = pd.DataFrame(spells, columns=["participant_id", "rank", "starts_on", "ends_on"])
    people_frame = pd.DataFrame(people, columns=["participant_id", "anchor"])
    values = sequences.build(
        spell_frame,
        people_frame,
        n_states=N_STATES,
        months=months,
        rule=rule,
        observed_until=observed_until,
    )
    return values.tolist()


ANCHOR = D(2024, 1, 15)  # month 1 = 15–31 Jan (17 days), 2 = Feb, 3 = Mar, 4 = Apr


def test_no_spells_is_a_gap_in_every_month() -> None:
    assert build([], [(1, ANCHOR)]) == [[GAP, GAP, GAP, GAP]]


def test_a_spell_crossing_a_month_end_counts_in_both_months_under_the_priority_rule() -> None:
    spells = [(1, 0, D(2024, 2, 20), D(2024, 3, 5))]
    assert build(spells, [(1, ANCHOR)]) == [[GAP, 0, 0, GAP]]
    # Majority: Feb has 10 spell days of 29, Mar 5 of 31: the gap covers most days of both.
    assert build(spells, [(1, ANCHOR)], rule="majority") == [[GAP, GAP, GAP, GAP]]


def test_an_open_spell_runs_to_the_end_of_the_window() -> None:
    spells = [(1, 1, D(2023, 12, 1), None), (1, 0, D(2024, 3, 10), D(2024, 3, 20))]
    assert build(spells, [(1, ANCHOR)]) == [[1, 1, 0, 1]]
    # March: 11 days of rank 0 against 20 of rank 1.
    assert build(spells, [(1, ANCHOR)], rule="majority") == [[1, 1, 1, 1]]


def test_days_before_the_anchor_do_not_count_in_month_one() -> None:
    before = [(1, 0, D(2024, 1, 1), D(2024, 1, 14))]
    assert build(before, [(1, ANCHOR)]) == [[GAP, GAP, GAP, GAP]]
    on_the_day = [(1, 0, D(2024, 1, 1), D(2024, 1, 15))]
    assert build(on_the_day, [(1, ANCHOR)]) == [[0, GAP, GAP, GAP]]
    # Majority in month 1 looks at 15–31 January only: 1 spell day against 16 gap days.
    assert build(on_the_day, [(1, ANCHOR)], rule="majority")[0][0] == GAP
    # 15–24 January: 10 of the 17 days.
    most = [(1, 0, D(2023, 6, 1), D(2024, 1, 24))]
    assert build(most, [(1, ANCHOR)], rule="majority")[0][0] == 0


def test_overlapping_spells_resolve_by_priority() -> None:
    spells = [(1, 1, D(2024, 2, 1), D(2024, 2, 29)), (1, 0, D(2024, 2, 10), D(2024, 2, 12))]
    assert build(spells, [(1, ANCHOR)]) == [[GAP, 0, GAP, GAP]]
    # Majority by day after priority: 3 days of rank 0, 26 of rank 1.
    assert build(spells, [(1, ANCHOR)], rule="majority") == [[GAP, 1, GAP, GAP]]


def test_a_lower_priority_spell_fills_only_the_days_the_higher_one_leaves() -> None:
    # Rank 2 all of March, rank 0 on 1–20 March: 20 days rank 0, 11 days rank 2.
    spells = [(1, 2, D(2024, 3, 1), D(2024, 3, 31)), (1, 0, D(2024, 3, 1), D(2024, 3, 20))]
    assert build(spells, [(1, ANCHOR)], rule="majority")[0][2] == 0
    # Rank 0 on 1–10 March only: 10 days against 21 of rank 2.
    spells = [(1, 2, D(2024, 3, 1), D(2024, 3, 31)), (1, 0, D(2024, 3, 1), D(2024, 3, 10))]
    assert build(spells, [(1, ANCHOR)], rule="majority")[0][2] == 2


def test_majority_ties_go_to_the_higher_priority_and_a_state_beats_a_gap() -> None:
    # April has 30 days: 15 of rank 1, then 15 of rank 0.
    tie = [(1, 1, D(2024, 4, 1), D(2024, 4, 15)), (1, 0, D(2024, 4, 16), D(2024, 4, 30))]
    assert build(tie, [(1, ANCHOR)], rule="majority")[0][3] == 0
    half = [(1, 2, D(2024, 4, 1), D(2024, 4, 15))]
    assert build(half, [(1, ANCHOR)], rule="majority")[0][3] == 2


def test_overlapping_spells_of_one_state_count_their_days_once() -> None:
    # Two work spells 1–10 and 5–14 March: 14 days of rank 0, 17 of rank 1.
    spells = [
        (1, 0, D(2024, 3, 1), D(2024, 3, 10)),
        (1, 0, D(2024, 3, 5), D(2024, 3, 14)),
        (1, 1, D(2024, 3, 1), D(2024, 3, 31)),
    ]
    assert build(spells, [(1, ANCHOR)], rule="majority")[0][2] == 1


def test_months_after_the_data_cut_off_are_not_observed() -> None:
    spells = [(1, 0, D(2024, 1, 1), None)]
    assert build(spells, [(1, ANCHOR)], observed_until=D(2024, 2, 10)) == [[0, 0, U, U]]
    assert build(spells, [(1, ANCHOR)], observed_until=D(2024, 3, 1)) == [[0, 0, 0, U]]


def test_people_with_different_anchors_get_their_own_month_one() -> None:
    people = [(7, D(2023, 11, 20)), (8, D(2024, 6, 3))]
    spells = [
        (8, 1, D(2024, 7, 31), D(2024, 7, 31)),  # one day, month 2 of participant 8
        (7, 0, D(2024, 2, 1), D(2024, 2, 1)),  # month 4 of participant 7 (Nov, Dec, Jan, Feb)
        (9, 0, D(2024, 1, 1), None),  # no such participant: ignored
        (7, 2, D(2020, 1, 1), D(2023, 10, 31)),  # ends before the window: ignored
    ]
    assert build(spells, people) == [[GAP, GAP, GAP, 0], [GAP, 1, GAP, GAP]]


def test_distribution_counts_each_state_among_those_observed() -> None:
    values = np.array([[0, 0, U], [1, GAP, U], [0, 1, 1]], dtype=np.int16)
    counts, totals = sequences.distribution(values, N_STATES + 1)
    assert totals.tolist() == [3, 3, 1]
    assert counts[:, 0].tolist() == [2, 1, 0, 0]
    assert counts[:, 1].tolist() == [1, 1, 0, 1]
    assert counts[:, 2].tolist() == [0, 1, 0, 0]


def test_index_sample_is_reproducible_and_sorted() -> None:
    rng = np.random.default_rng(3)
    values = rng.integers(0, 4, size=(200, 6)).astype(np.int16)
    rows = sequences.index_sample(values, 50, seed=11)
    assert rows.tolist() == sequences.index_sample(values, 50, seed=11).tolist()
    assert len(set(rows.tolist())) == 50
    sample = [tuple(r) for r in values[rows].tolist()]
    assert sample == sorted(sample)


def test_runs_merge_equal_months() -> None:
    assert sequences.runs(np.array([3, 3, 0, 0, 0, 3], dtype=np.int16)) == [
        (0, 2, 3),
        (2, 3, 0),
        (5, 1, 3),
    ]


@pytest.mark.parametrize("rule", ["priority", "majority"])
def test_build_has_no_python_loop_over_participants(rule: sequences.Rule) -> None:
    """Sanity of the vectorised path at a size where a slip would show: 2,000 people with one
    open spell from their anchor are in that state in every month."""
    start = np.datetime64("2022-01-01")
    anchors = start + np.arange(2000) % 700
    people = pd.DataFrame({"participant_id": np.arange(2000), "anchor": anchors})
    spells = pd.DataFrame(
        {
            "participant_id": np.arange(2000),
            "rank": np.arange(2000) % N_STATES,
            "starts_on": anchors,
            "ends_on": pd.NaT,
        }
    )
    values = sequences.build(spells, people, n_states=N_STATES, months=72, rule=rule)
    assert values.shape == (2000, 72)
    assert (values == (np.arange(2000) % N_STATES)[:, None]).all()
