"""Report-ready pieces of the pathways (sequence analysis) report: tables and SVG figures.

A thin layer over :mod:`reports.analysis.sequences`; every number comes from there.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure as MplFigure
from matplotlib.patches import Patch

from reports.analysis import sequences as sq
from reports.analysis.figures import COLOURS, to_svg
from reports.analysis.results import Figure, Section, Table
from reports.analysis.text import _, number, p_value

# States without a colour of their own (the trial's alphabet gives each state the colour the
# pathway pages show; see :func:`sequence_sections`): the series palette of the pages.
STATE_COLOURS = list(COLOURS)


def state_colours(alphabet: list[str], colours: dict[str, str] | None) -> list[str]:
    """One colour per state: the alphabet's own (the pathway pages' colours) where given, else
    the pages' series palette in turn."""
    given = colours or {}
    return [
        given.get(code) or STATE_COLOURS[index % len(STATE_COLOURS)]
        for index, code in enumerate(alphabet)
    ]


def _state_names(alphabet: list[str], labels: dict[str, Any]) -> list[str]:
    return [str(labels.get(code, code)) for code in alphabet]


def _distribution_svg(
    sequences: np.ndarray,
    n_states: int,
    names: list[str],
    groups: np.ndarray,
    arms: list[str],
    colours: list[str],
) -> tuple[str, pd.DataFrame]:
    figure = MplFigure(figsize=(7, 2.4 * len(arms) + 0.6))
    rows = []
    for index, arm in enumerate(arms):
        axes = figure.add_subplot(len(arms), 1, index + 1)
        dist = sq.state_distribution(sequences[groups == arm], n_states)
        months = np.arange(1, dist.shape[0] + 1)
        axes.stackplot(
            months,
            np.nan_to_num(dist.T),
            labels=names,
            colors=colours[:n_states],
            step="mid",
        )
        axes.set_xlim(1, dist.shape[0])
        axes.set_ylim(0, 1)
        axes.set_title(f"{arm} (n = {number(int((groups == arm).sum()))})", loc="left", fontsize=10)
        axes.set_ylabel(_("Share"))
        for month, shares in zip(months, dist, strict=True):
            rows.append({"arm": arm, "month": int(month), **dict(zip(names, shares, strict=True))})
    axes.set_xlabel(_("Month since randomisation"))
    figure.axes[0].legend(
        loc="lower left", bbox_to_anchor=(0, 1.15), ncol=min(n_states, 4), frameon=False, fontsize=8
    )
    figure.tight_layout()
    return to_svg(figure), pd.DataFrame(rows)


def _index_svg(
    sequences: np.ndarray,
    n_states: int,
    names: list[str],
    groups: np.ndarray,
    arms: list[str],
    colours: list[str],
) -> str:
    """Index plot: one line per participant, sorted by their states from the first month on."""
    figure = MplFigure(figsize=(7, 3 * len(arms) + 0.6))
    colour_map = ListedColormap(["#ffffff", *colours[:n_states]])
    for index, arm in enumerate(arms):
        axes = figure.add_subplot(len(arms), 1, index + 1)
        members = sequences[groups == arm]
        order = np.lexsort(members.T[::-1])
        image = members[order] + 1  # void (−1) becomes 0, drawn white
        axes.imshow(
            image,
            aspect="auto",
            interpolation="nearest",
            cmap=colour_map,
            vmin=0,
            vmax=n_states,
            extent=(0.5, members.shape[1] + 0.5, len(members), 0),
        )
        axes.set_title(f"{arm} (n = {number(len(members))})", loc="left", fontsize=10)
        axes.set_ylabel(_("Participants"))
    axes.set_xlabel(_("Month since randomisation"))
    handles = [Patch(color=colours[s], label=names[s]) for s in range(n_states)]
    figure.axes[0].legend(
        handles=handles,
        loc="lower left",
        bbox_to_anchor=(0, 1.1),
        ncol=min(n_states, 4),
        frameon=False,
        fontsize=8,
    )
    figure.tight_layout()
    return to_svg(figure)


def _transition_svg(rates: np.ndarray, names: list[str]) -> str:
    figure = MplFigure(figsize=(5.5, 4.6))
    axes = figure.add_subplot(1, 1, 1)
    axes.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    axes.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    axes.set_yticks(range(len(names)), names, fontsize=8)
    axes.set_xlabel(_("State next month"))
    axes.set_ylabel(_("State this month"))
    for (i, j), value in np.ndenumerate(rates):
        axes.text(
            j,
            i,
            number(float(value), 2),
            ha="center",
            va="center",
            fontsize=7,
            color="white" if value > 0.6 else "black",
        )
    figure.tight_layout()
    return to_svg(figure)


def indicator_labels() -> dict[str, str]:
    return {
        "transitions": _("Transitions"),
        "spells": _("Spells"),
        "entropy": _("Longitudinal entropy"),
        "turbulence": _("Turbulence"),
        "complexity": _("Complexity index"),
        "work_spells": _("Work spells"),
        "returns_to_benefit": _("Returns to benefit after work"),
        "work_to_benefit": _("Work-to-benefit transitions"),
    }


def indicator_table(indicators: pd.DataFrame, arm_of: np.ndarray, arms: list[str]) -> pd.DataFrame:
    """Per-participant indicators summarised as one row per indicator and a mean and SD column
    per arm (``<arm>|mean``, ``<arm>|sd``), so that the table stays narrow however many
    indicators there are."""
    names = indicator_labels()
    stats = indicators.groupby(arm_of).agg(["mean", "std"])
    frame = pd.DataFrame({"indicator": [names.get(c, c) for c in indicators.columns]})
    for arm in arms:
        for stat, source in (("mean", "mean"), ("sd", "std")):
            frame[f"{arm}|{stat}"] = [
                float(stats.loc[arm, (column, source)]) for column in indicators.columns
            ]
    return frame


def sequence_sections(
    sequences: np.ndarray,
    alphabet: list[str],
    labels: dict[str, Any],
    groups: pd.Series,
    k: int | None,
    seed: int,
    *,
    work_states: frozenset[int] = frozenset(),
    benefit_states: frozenset[int] = frozenset(),
    colours: dict[str, str] | None = None,
    clusters: pd.Series | None = None,
) -> list[Section]:
    """The pathways sections: descriptives by arm, transition rates, and a typology.

    ``labels`` maps alphabet codes to display names and ``colours`` to the colours the pathway
    pages give them; ``groups`` gives each participant's arm (same order as ``sequences``),
    shown in sorted order (the arms' labels start with their codes, the trial's order).
    ``k=None`` picks the number of types in 2..6 with the highest average silhouette width.
    Costs: TRATE substitution, indel max/2, PAM from Ward.

    ``clusters`` (a cluster or stepped-wedge trial's site of each participant) makes the
    intervals cluster-robust and leaves out the chi-square test of types by arm, which
    ignores clustering (both said under the tables).
    """
    n_states = len(alphabet)
    seqs, _lengths = sq.as_sequences(sequences, n_states)
    names = _state_names(alphabet, labels)
    palette = state_colours(alphabet, colours)
    arm_of = np.asarray(groups)
    descriptives = _descriptives_section(
        seqs,
        alphabet,
        names,
        arm_of,
        palette,
        clusters,
        work_states=work_states,
        benefit_states=benefit_states,
    )
    return [descriptives, _typology_section(seqs, names, arm_of, k, seed, clusters)]


def _indicator_columns(
    seqs: np.ndarray,
    alphabet: list[str],
    work_states: frozenset[int],
    benefit_states: frozenset[int],
) -> pd.DataFrame:
    """The per-participant indicators the report shows (work and benefit ones when the
    alphabet has both)."""
    indicators = sq.sequence_indicators(
        seqs, alphabet, work_states=work_states, benefit_states=benefit_states
    )
    columns = ["transitions", "spells", "entropy", "turbulence", "complexity"]
    if work_states and benefit_states:
        columns += ["work_spells", "returns_to_benefit", "work_to_benefit"]
    return indicators[columns]


def _descriptives_section(
    seqs: np.ndarray,
    alphabet: list[str],
    names: list[str],
    arm_of: np.ndarray,
    palette: list[str],
    clusters: pd.Series | None,
    *,
    work_states: frozenset[int],
    benefit_states: frozenset[int],
) -> Section:
    """State distributions, index plots, time in each state, indicators and transition rates,
    by arm (in sorted order)."""
    n_states = len(names)
    arms = sorted(pd.unique(arm_of))
    distribution_svg, distribution = _distribution_svg(seqs, n_states, names, arm_of, arms, palette)
    mean_time = sq.mean_time_in_state(seqs, names, arm_of, clusters=clusters).rename(
        columns={"group": "arm"}
    )
    per_arm = indicator_table(
        _indicator_columns(seqs, alphabet, work_states, benefit_states), arm_of, arms
    )

    descriptives = Section(
        key="pathways",
        title=_("Pathways: monthly states by arm"),
        text=[
            _(
                "Each participant's months since randomisation are coded as one state per "
                "month. The figures show the share in each state per month and every "
                "participant's sequence (sorted), by arm."
            )
        ],
        tables=[
            Table(
                "pathways_mean_time",
                _("Mean months in each state by arm (95% CI)"),
                mean_time,
                notes=_mean_time_notes(clusters),
            ),
            Table(
                "pathways_indicators",
                _("Transitions, spells, entropy and turbulence per participant by arm"),
                per_arm,
                labels={
                    f"{arm}|{stat}": f"{arm}: {label}"
                    for arm in arms
                    for stat, label in (("mean", _("mean")), ("sd", _("SD")))
                },
                notes=[
                    _(
                        "Entropy: Shannon entropy of time in each state, divided by the log "
                        "of the number of states. Turbulence: Elzinga's measure (TraMineR "
                        "seqST). Returns to benefit: work spells followed by a benefit spell "
                        "before the next work spell."
                    )
                ],
            ),
        ],
        figures=[
            Figure(
                "pathways_distribution",
                _("State distribution by month and arm"),
                distribution_svg,
                Table("pathways_distribution", _("State distribution"), distribution),
            ),
            Figure(
                "pathways_index",
                _("Sequence index plot by arm (sorted)"),
                _index_svg(seqs, n_states, names, arm_of, arms, palette),
                Table(
                    "pathways_index_counts",
                    _("Participants by arm"),
                    pd.DataFrame({"arm": arms, "n": [int((arm_of == a).sum()) for a in arms]}),
                ),
            ),
        ],
    )
    descriptives.figures.extend(_transition_figures(seqs, names, arm_of, arms))
    return descriptives


def _mean_time_notes(clusters: pd.Series | None) -> list[str]:
    """What the intervals of the mean time in each state are."""
    return (
        [
            _(
                "95% CI: CR2 cluster-robust standard error by site, t reference with (sites in "
                "the arm − 1) degrees of freedom; none for an arm with fewer than two sites."
            )
        ]
        if clusters is not None
        else [_("95% CI: t reference with n − 1 degrees of freedom.")]
    )


def _transition_figures(
    seqs: np.ndarray, names: list[str], arm_of: np.ndarray, arms: list[Any]
) -> list[Figure]:
    """The monthly transition rates of each arm, as a figure with its table."""
    n_states = len(names)
    figures = []
    for position, arm in enumerate(arms, start=1):
        rates = sq.transition_rates(seqs[arm_of == arm], n_states)
        frame = pd.DataFrame(rates, index=names, columns=names).reset_index(names="from")
        figures.append(
            Figure(
                f"pathways_transitions_{position}",
                _("Monthly transition rates: %(arm)s") % {"arm": arm},
                _transition_svg(rates, names),
                Table(f"pathways_transitions_{position}", _("Transition rates"), frame),
            )
        )
    return figures


def _typology_section(
    seqs: np.ndarray,
    names: list[str],
    arm_of: np.ndarray,
    k: int | None,
    seed: int,
    clusters: pd.Series | None,
) -> Section:
    """Pathway types by optimal matching and PAM, their medoids and their distribution by arm."""
    n_states = len(names)
    typology_section = Section(key="pathway-types", title=_("Pathway types"))
    sm, indel = sq.substitution_costs(seqs, n_states, "TRATE")
    k_values = [k] if k else list(range(2, 7))
    unique_count = len(sq.unique_sequences(seqs)[0])
    if unique_count <= max(k_values):
        typology_section.problems.append(_("Too few distinct sequences for a typology."))
        return typology_section
    result = sq.typology(seqs, n_states, k_values, sm=sm, indel=indel, method="pam", seed=seed)
    chosen = k or max(result.asw, key=lambda value: result.asw[value])
    table, test = sq.type_distribution(result.labels[chosen], arm_of)
    typology_section.text.append(
        _(
            "Optimal matching distances (substitution costs from transition rates, indel "
            "cost %(indel)s) were clustered by PAM started from Ward's solution; %(k)s "
            "types were chosen by the average silhouette width (ASW)."
        )
        % {"indel": number(float(indel), 2), "k": number(int(chosen))}
    )
    typology_section.text.extend(result.notes)
    medoids = pd.DataFrame(
        {
            "type": range(1, chosen + 1),
            "medoid": [
                " – ".join(f"{names[s]}/{d}" for s, d in sq.spells(row))
                for row in result.medoids[chosen]
            ],
        }
    )
    counts = table.reset_index()
    counts.columns = [str(c) for c in counts.columns]
    typology_section.tables = [
        Table(
            "pathway_types_asw",
            _("Average silhouette width by number of types"),
            pd.DataFrame({"k": list(result.asw), "asw": list(result.asw.values())}),
        ),
        Table(
            "pathway_types_medoids",
            _("Representative (medoid) sequence of each type"),
            medoids,
            notes=[_("Spells as state/months.")],
        ),
        Table(
            "pathway_types_by_arm",
            _("Pathway types by arm"),
            counts,
            notes=[
                _(
                    "No test of types by arm: the chi-square test ignores clustering by site, "
                    "so its p-value would be too small."
                )
                if clusters is not None
                else _("Chi-square test of independence: χ² = %(chi2)s, df = %(dof)s, p %(p)s.")
                % {
                    "chi2": number(test["chi2"], 2),
                    "dof": number(int(test["dof"])),
                    "p": _p_text(test["p"]),
                }
            ],
        ),
    ]
    if clusters is not None:
        return typology_section
    if test["min_expected"] < 5:
        typology_section.problems.append(
            _("Some expected counts are below 5; the chi-square p-value is approximate.")
        )
    return typology_section


def _p_text(p: float) -> str:
    """The p-value after "p" in a sentence: "= 0.123" or "< 0.001"."""
    shown = p_value(p)
    return shown if shown.startswith("<") else f"= {shown}"
