"""The CONSORT flow diagram: counts from the trial's data frames, drawn as a vector figure.

Follows the CONSORT 2025 flow diagram (enrolment, allocation, follow-up, analysis) and, for
cluster-randomised and stepped-wedge trials, the 2012 cluster extension's boxes: the number of
clusters (sites) at each stage and the mean cluster size beside the number of people.

Inputs are plain data frames (study ids only), so the counts can be reconciled with the database
by a test and reproduced from the report's data sets:

``screening``: one row per person assessed for eligibility, columns ``eligible`` (bool),
``declined`` (bool), ``exclusion_reason`` (label, or None when eligible) and ``randomised``
(bool: this screening led to a randomised participant).

``participants``: one row per randomised participant, columns ``study_id``, ``arm`` (code),
``arm_label``, ``site`` (code), ``status`` (``active``, ``withdrawn``, ``lost``, ``completed``),
``lost_reason`` and ``withdrawal_reason`` (labels or None), ``received`` (bool: received the
allocated intervention, as the trial defines it — e.g. at least one contact delivering an
intervention component for the intervention arm, no intervention-specific component for the
control arm), and ``analysed`` (bool: has the primary outcome at the analysis time point).

Labels go through ``translate`` so the caller can pass Django's ``gettext``; the module itself
needs no Django.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape

import pandas as pd

from reports.analysis.results import Figure, Table
from reports.analysis.text import number

Translate = Callable[[str], str]


def _identity(text: str) -> str:
    return text


@dataclass
class ArmFlow:
    """The counts of one arm's column of the diagram."""

    code: str
    label: str
    allocated: int
    received: int
    not_received: int
    lost: int
    lost_reasons: dict[str, int]
    discontinued: int
    discontinued_reasons: dict[str, int]
    analysed: int
    not_analysed: int
    sites_allocated: int
    sites_analysed: int

    @property
    def mean_cluster_size(self) -> float | None:
        return self.allocated / self.sites_allocated if self.sites_allocated else None

    @property
    def mean_cluster_size_analysed(self) -> float | None:
        return self.analysed / self.sites_analysed if self.sites_analysed else None


@dataclass
class ConsortCounts:
    assessed: int
    excluded: int
    not_eligible: int
    not_eligible_reasons: dict[str, int]
    declined: int
    other_reasons: int
    randomised: int
    arms: list[ArmFlow] = field(default_factory=list)
    cluster: bool = False

    @property
    def sites_randomised(self) -> int:
        return sum(arm.sites_allocated for arm in self.arms)


def _reasons(values: pd.Series) -> dict[str, int]:
    counts = values.dropna().astype(str).value_counts()
    return {
        str(reason): int(n) for reason, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    }


def consort_counts(
    screening: pd.DataFrame, participants: pd.DataFrame, *, design: str = "individual"
) -> ConsortCounts:
    """Count every box of the flow diagram.

    People randomised without a screening record (e.g. an imported trial) are still counted as
    randomised; "assessed" is then at least the number randomised, and the difference is
    reported in ``other_reasons`` as zero rather than a negative number.
    """
    eligible = screening["eligible"].astype(bool)
    declined = screening["declined"].astype(bool) & eligible
    randomised_from_screening = int(screening["randomised"].astype(bool).sum())
    randomised = len(participants)
    not_eligible = int((~eligible).sum())
    n_declined = int(declined.sum())
    other = max(int((eligible & ~declined).sum()) - randomised_from_screening, 0)
    assessed = max(len(screening), randomised + not_eligible + n_declined + other)
    arms: list[ArmFlow] = []
    if randomised:
        ordered = participants.drop_duplicates("arm")[["arm", "arm_label"]].sort_values("arm")
        for arm, label in ordered.itertuples(index=False):
            rows = participants[participants["arm"] == arm]
            received = rows["received"].fillna(False).astype(bool)
            lost = rows["status"] == "lost"
            withdrawn = rows["status"] == "withdrawn"
            analysed = rows["analysed"].fillna(False).astype(bool)
            arms.append(
                ArmFlow(
                    code=str(arm),
                    label=str(label),
                    allocated=len(rows),
                    received=int(received.sum()),
                    not_received=int((~received).sum()),
                    lost=int(lost.sum()),
                    lost_reasons=_reasons(rows.loc[lost, "lost_reason"]),
                    discontinued=int(withdrawn.sum()),
                    discontinued_reasons=_reasons(rows.loc[withdrawn, "withdrawal_reason"]),
                    analysed=int(analysed.sum()),
                    not_analysed=int((~analysed).sum()),
                    sites_allocated=int(rows["site"].nunique()),
                    sites_analysed=int(rows.loc[analysed, "site"].nunique()),
                )
            )
    return ConsortCounts(
        assessed=assessed,
        excluded=assessed - randomised,
        not_eligible=not_eligible,
        not_eligible_reasons=_reasons(screening.loc[~eligible, "exclusion_reason"]),
        declined=n_declined,
        other_reasons=other,
        randomised=randomised,
        arms=arms,
        cluster=design in ("cluster", "stepped_wedge"),
    )


def _n(count: int) -> str:
    # No-break spaces: a wrapped line never splits "(n = 12)".
    return f"(n\u00a0=\u00a0{number(count)})"


def _cluster_line(people: int, sites: int, translate: Translate) -> str:
    if not sites:
        return ""
    _ = translate
    return _("Sites: %(sites)s, mean %(size)s per site") % {
        "sites": number(sites),
        "size": number(people / sites, 1),
    }


def box_texts(counts: ConsortCounts, translate: Translate = _identity) -> dict[str, list[str]]:
    """The text of every box, by key: ``assessed``, ``excluded``, ``randomised`` and, per arm
    code, ``allocation:<code>``, ``follow_up:<code>``, ``analysis:<code>``."""
    _ = translate
    boxes: dict[str, list[str]] = {
        "assessed": [f"{_('Assessed for eligibility')} {_n(counts.assessed)}"],
        "excluded": [
            f"{_('Excluded')} {_n(counts.excluded)}",
            f"• {_('Not meeting eligibility criteria')} {_n(counts.not_eligible)}",
            *(f"   – {reason} {_n(n)}" for reason, n in counts.not_eligible_reasons.items()),
            f"• {_('Declined to participate')} {_n(counts.declined)}",
            f"• {_('Other reasons (eligible, not randomised)')} {_n(counts.other_reasons)}",
        ],
        "randomised": [f"{_('Randomised')} {_n(counts.randomised)}"],
    }
    if counts.cluster:
        boxes["randomised"].append(
            _("Sites randomised: %(sites)s") % {"sites": number(counts.sites_randomised)}
        )
    for arm in counts.arms:
        allocation = [
            _("Allocated to %(arm)s") % {"arm": arm.label} + f" {_n(arm.allocated)}",
            f"• {_('Received allocated intervention')} {_n(arm.received)}",
            f"• {_('Did not receive allocated intervention')} {_n(arm.not_received)}",
        ]
        analysis = [
            f"{_('Analysed')} {_n(arm.analysed)}",
            f"• {_('Excluded from analysis: no primary outcome')} {_n(arm.not_analysed)}",
        ]
        if counts.cluster:
            allocation.append(_cluster_line(arm.allocated, arm.sites_allocated, _))
            analysis.append(_cluster_line(arm.analysed, arm.sites_analysed, _))
        boxes[f"allocation:{arm.code}"] = allocation
        boxes[f"follow_up:{arm.code}"] = [
            f"{_('Lost to follow-up')} {_n(arm.lost)}",
            *(f"   – {reason} {_n(n)}" for reason, n in arm.lost_reasons.items()),
            f"{_('Discontinued (withdrew)')} {_n(arm.discontinued)}",
            *(f"   – {reason} {_n(n)}" for reason, n in arm.discontinued_reasons.items()),
        ]
        boxes[f"analysis:{arm.code}"] = analysis
    return boxes


# Drawing: boxes of wrapped lines, in points; a stage label bar on the left like the CONSORT
# template. Plain SVG with no script or external font, so WeasyPrint and browsers draw it alike.
LINE = 13.0
PAD = 6.0
CHARS = 46
COLUMN = 270.0
GAP = 24.0
LEFT = 96.0


def _wrap(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        if not line:
            continue
        indent = len(line) - len(line.lstrip())
        out.extend(
            textwrap.wrap(line, CHARS, subsequent_indent=" " * (indent + 2), drop_whitespace=False)
            or [""]
        )
    return out


def _box(
    x: float, y: float, width: float, lines: list[str], min_height: float = 0.0
) -> tuple[str, float]:
    wrapped = _wrap(lines)
    height = max(PAD * 2 + LINE * len(wrapped), min_height)
    parts = [
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" '
        'fill="#fff" stroke="#222" stroke-width="0.8"/>'
    ]
    for i, line in enumerate(wrapped):
        baseline = y + PAD + LINE * (i + 1) - 3
        parts.append(
            f'<text x="{x + PAD:.1f}" y="{baseline:.1f}" xml:space="preserve">{escape(line)}</text>'
        )
    return "".join(parts), height


def _arrow(x1: float, y1: float, x2: float, y2: float) -> str:
    return (
        f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#222" '
        'stroke-width="0.8" marker-end="url(#arrow)"/>'
    )


def _stage(y: float, height: float, label: str) -> str:
    return (
        f'<rect x="4" y="{y:.1f}" width="{LEFT - 16:.1f}" height="{height:.1f}" rx="4" '
        'fill="#dbe7f3" stroke="#6b8fb5" stroke-width="0.6"/>'
        f'<text x="{4 + (LEFT - 16) / 2:.1f}" y="{y + height / 2 + 4:.1f}" text-anchor="middle" '
        f'font-weight="bold">{escape(label)}</text>'
    )


def consort_svg(counts: ConsortCounts, translate: Translate = _identity) -> str:
    """The flow diagram as a complete SVG document (one column per arm)."""
    _ = translate
    boxes = box_texts(counts, _)
    arms = counts.arms or []
    columns = max(len(arms), 2)
    width = LEFT + columns * COLUMN + (columns - 1) * GAP + 8
    centre = LEFT + (width - LEFT - 8) / 2
    parts: list[str] = []
    y = 8.0
    # Enrolment: assessed, then the excluded box to the right, then randomised.
    top_width = COLUMN
    top_x = centre - top_width / 2
    svg, h_assessed = _box(top_x, y, top_width, boxes["assessed"])
    parts.append(svg)
    excluded_y = y + h_assessed + 14
    excluded_x = min(top_x + top_width / 2 + 30, width - COLUMN - 8)
    svg, h_excluded = _box(excluded_x, excluded_y, COLUMN, boxes["excluded"])
    parts.append(svg)
    randomised_y = excluded_y + h_excluded + 14
    parts.append(_arrow(centre, y + h_assessed, centre, randomised_y))
    parts.append(
        _arrow(centre, excluded_y + h_excluded / 2, excluded_x, excluded_y + h_excluded / 2)
    )
    svg, h_randomised = _box(top_x, randomised_y, top_width, boxes["randomised"])
    parts.append(svg)
    parts.append(_stage(y, randomised_y + h_randomised - y, _("Enrolment")))
    y = randomised_y + h_randomised
    if not arms:
        height = y + 16
        return _document(width, height, parts)
    xs = [LEFT + i * (COLUMN + GAP) for i in range(len(arms))]
    branch_y = y + 12
    parts.append(
        f'<line x1="{centre:.1f}" y1="{y:.1f}" x2="{centre:.1f}" y2="{branch_y:.1f}" '
        'stroke="#222" stroke-width="0.8"/>'
    )
    parts.append(
        f'<line x1="{xs[0] + COLUMN / 2:.1f}" y1="{branch_y:.1f}" x2="{xs[-1] + COLUMN / 2:.1f}" '
        f'y2="{branch_y:.1f}" stroke="#222" stroke-width="0.8"/>'
    )
    y = branch_y + 14
    for stage_key, stage_label in (
        ("allocation", _("Allocation")),
        ("follow_up", _("Follow-up")),
        ("analysis", _("Analysis")),
    ):
        heights = [len(_wrap(boxes[f"{stage_key}:{arm.code}"])) for arm in arms]
        row_height = PAD * 2 + LINE * max(heights)
        for x, arm in zip(xs, arms, strict=True):
            if stage_key == "allocation":
                parts.append(_arrow(x + COLUMN / 2, branch_y, x + COLUMN / 2, y))
            else:
                parts.append(_arrow(x + COLUMN / 2, y - 14, x + COLUMN / 2, y))
            svg, _height = _box(x, y, COLUMN, boxes[f"{stage_key}:{arm.code}"], row_height)
            parts.append(svg)
        parts.append(_stage(y, row_height, stage_label))
        y += row_height + 14
    return _document(width, y + 2, parts)


def _document(width: float, height: float, parts: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}pt" height="{height:.0f}pt" '
        f'viewBox="0 0 {width:.1f} {height:.1f}" font-family="DejaVu Sans, Arial, sans-serif" '
        'font-size="9.5">'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" '
        'markerHeight="6" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        'fill="#222"/></marker></defs>' + "".join(parts) + "</svg>"
    )


def consort_table(counts: ConsortCounts, translate: Translate = _identity) -> Table:
    """The diagram's numbers as a table (one row per box line with a count)."""
    _ = translate
    rows: list[dict[str, object]] = [
        {
            "stage": _("Enrolment"),
            "arm": "",
            "item": _("Assessed for eligibility"),
            "n": counts.assessed,
        },
        {"stage": _("Enrolment"), "arm": "", "item": _("Excluded"), "n": counts.excluded},
        {
            "stage": _("Enrolment"),
            "arm": "",
            "item": _("Not meeting eligibility criteria"),
            "n": counts.not_eligible,
        },
        *(
            {"stage": _("Enrolment"), "arm": "", "item": f"– {reason}", "n": n}
            for reason, n in counts.not_eligible_reasons.items()
        ),
        {
            "stage": _("Enrolment"),
            "arm": "",
            "item": _("Declined to participate"),
            "n": counts.declined,
        },
        {
            "stage": _("Enrolment"),
            "arm": "",
            "item": _("Other reasons (eligible, not randomised)"),
            "n": counts.other_reasons,
        },
        {"stage": _("Enrolment"), "arm": "", "item": _("Randomised"), "n": counts.randomised},
    ]
    for arm in counts.arms:
        for stage, item, n in (
            (_("Allocation"), _("Allocated"), arm.allocated),
            (_("Allocation"), _("Received allocated intervention"), arm.received),
            (_("Allocation"), _("Did not receive allocated intervention"), arm.not_received),
            (_("Follow-up"), _("Lost to follow-up"), arm.lost),
            (_("Follow-up"), _("Discontinued (withdrew)"), arm.discontinued),
            (_("Analysis"), _("Analysed"), arm.analysed),
            (_("Analysis"), _("Excluded from analysis: no primary outcome"), arm.not_analysed),
        ):
            rows.append({"stage": stage, "arm": arm.label, "item": item, "n": n})
        if counts.cluster:
            rows.append(
                {
                    "stage": _("Allocation"),
                    "arm": arm.label,
                    "item": _("Sites"),
                    "n": arm.sites_allocated,
                }
            )
            rows.append(
                {
                    "stage": _("Analysis"),
                    "arm": arm.label,
                    "item": _("Sites"),
                    "n": arm.sites_analysed,
                }
            )
    frame = pd.DataFrame(rows, columns=["stage", "arm", "item", "n"])
    return Table(key="consort_flow", title=_("CONSORT flow: numbers"), frame=frame)


def consort_figure(
    screening: pd.DataFrame,
    participants: pd.DataFrame,
    *,
    design: str = "individual",
    translate: Translate = _identity,
) -> Figure:
    """The diagram and its table, ready for a report section."""
    _ = translate
    counts = consort_counts(screening, participants, design=design)
    return Figure(
        key="consort_flow",
        title=_("CONSORT flow diagram"),
        svg=consort_svg(counts, translate),
        table=consort_table(counts, translate),
    )
