"""The shapes analyses return and take: tables, figures, sections, the data and the plan.

This is the contract between the analyses in ``reports/analysis/`` and the report pipeline:
the pipeline fills :class:`EffectData` and :class:`AnalysisPlan` from the database and renders
the :class:`Section` list that :func:`reports.analysis.effect.effect_sections` returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass
class Table:
    """A display-ready table.

    ``frame`` holds unrounded numbers (the template formats them); a value that could not be
    estimated is ``None``, never NaN, and a note says why.
    """

    key: str  # file-safe name; the pipeline writes it as <key>.csv in the ZIP
    title: str
    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    # Column name -> header shown in the PDF; the CSV keeps the frame's (machine) names.
    labels: dict[str, str] = field(default_factory=dict)
    hidden: tuple[str, ...] = ()  # columns left out of the PDF (a note says what they hold)
    # Column -> the text the PDF shows on each row in place of the frame's value (a label for
    # a machine key such as ``in_paid_work``); the CSV keeps the frame's values.
    shown: dict[str, list[str]] = field(default_factory=dict)
    # A column that heads groups of rows (the comparison): the PDF shows it once, as a line
    # under the title when every row has the same value, else as a heading row before each
    # run of rows with the same value, instead of on every row. The CSV has it on every row.
    group: str | None = None
    # Columns left blank in the PDF where they repeat the row above (within a group); a
    # column is blank only when the columns before it in ``runs`` repeat too.
    runs: tuple[str, ...] = ()


@dataclass
class Figure:
    """A figure as a complete ``<svg>`` document, with the numbers behind it."""

    key: str
    title: str
    svg: str  # a complete <svg> document (matplotlib, Agg backend, format="svg")
    table: Table


@dataclass
class Section:
    """One section of a report; ``problems`` says what could not be estimated and why."""

    key: str
    title: str
    text: list[str] = field(default_factory=list)  # paragraphs (plain text)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    part: str = ""  # the part of a combined report (the full report) this section belongs to


@dataclass
class EffectData:
    """The pseudonymised data an effect evaluation needs (study ids only).

    participants: study_id, arm (code), arm_label, is_control (bool), site (code),
        randomised_on (date), stratum (str | None), withdrawn (bool), plus one column per
        baseline covariate key.
    outcomes: study_id, visit (code), offset_months, assessed_on, then one column per
        variable of the trial's instruments (in_paid_work, hours_per_week, … of the built-in
        Employment and benefits instrument first); one row per visit with an assessment,
        missing visits absent.
    missed: study_id, visit, reason ("missed" / "withdrawn" / "lost" / "not yet due").
    exposure: study_id, exposed (bool: received intervention-specific components),
        first_exposed_on, contacted (bool: at least one contact logged).
    time_to_work: study_id, months (float, from randomisation), event (bool: first paid
        work seen).
    design: "individual" | "cluster" | "stepped_wedge".
    kinds: the kind of each variable in ``outcomes`` from the trial's data dictionary
        (binary, continuous, count, ordinal, score, categorical, …), which decides the model;
        a variable not listed is binary when its values are, else continuous.
    registers: study_id and one column per register endpoint the plan names that is a value
        (``months_in_…``, ``in_…_at_…``; see :mod:`reports.registers`), None without one.
    register_times: a time-to-first register endpoint's name → study_id, months, event (from
        register dates, censored at the end of register follow-up).
    labels: the report's labels of the register endpoints.
    """

    participants: pd.DataFrame
    outcomes: pd.DataFrame
    missed: pd.DataFrame
    exposure: pd.DataFrame
    time_to_work: pd.DataFrame
    design: str
    kinds: dict[str, str] = field(default_factory=dict)
    registers: pd.DataFrame | None = None
    register_times: dict[str, pd.DataFrame] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class AnalysisPlan:
    """The locked statistical analysis plan, as far as the effect analysis needs it."""

    primary_outcome: str  # a column of outcomes (a variable), e.g. "in_paid_work"
    time_point: str  # visit code, e.g. "m12"
    secondary_outcomes: list[str]
    # Baseline covariate keys, "site", "stratum", and "<variable>@baseline" (the variable at the
    # visit 0 months from randomisation).
    covariates: list[str]
    missing: (
        str  # "complete_case" (primary); MI always runs as sensitivity when outcomes are missing
    )
    subgroups: list[str]  # baseline covariate keys, "site" and "<variable>@baseline"
    version: int = 1
