"""The cost-effectiveness section (its own report kind, and a part of the full report): unit
costs applied to the contact log and the register months (``economics.extract``), the analysis
from ``economics.evaluation``, the plane and the acceptability curve, and the per-participant
costs for the ZIP with their dictionary."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from django.utils.translation import gettext as _
from matplotlib.figure import Figure as MplFigure

from economics import costs, evaluation, extract
from economics.models import UnitCost
from economics.services import settings_for
from reports import render
from reports.analysis.figures import COLOURS, to_svg
from reports.analysis.results import Figure, Section, Table

if TYPE_CHECKING:
    from reports.sections.base import ReportInput

ZIP_FILES_KEY = "zip_files"  # ReportInput.cache entry the pipeline adds to the ZIP


def _none(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def component_labels() -> dict[str, str]:
    return {
        "delivery_staff": _("Intervention contacts, staff time"),
        "delivery_partner": _("Intervention contacts, partners' time"),
        "usual_staff": _("Usual-service contacts, staff time"),
        "usual_partner": _("Usual-service contacts, partners' time"),
        "contamination_staff": _("Contamination contacts, staff time"),
        "contamination_partner": _("Contamination contacts, partners' time"),
        "fixed_site": _("Fixed cost per site (shared)"),
        "fixed_participant": _("Fixed cost per participant"),
        "benefit": _("Benefit payments"),
        "total_cost": _("Total cost"),
        "months_in_work": _("Months in work (effect)"),
    }


def left_out_text(item: costs.LeftOut) -> str:
    what = {
        "no_rate": _("no rate for %(kind)s “%(key)s” on the day: %(count)s rows, %(qty)s"),
        "no_price_index": _("no price index for %(kind)s “%(key)s” (price year %(qty)s)"),
        "no_participants": _("%(kind)s “%(key)s” has no participant to bear it (%(qty)s)"),
        "no_role": _("%(count)s contacts (%(qty)s minutes) logged by former members"),
        "not_observed": _(
            "%(count)s participants not yet observed over the whole horizon (randomised too "
            "recently, or register data end earlier)"
        ),
    }[item.reason]
    return what % {
        "kind": item.kind,
        "key": item.key,
        "count": item.count,
        "qty": f"{item.quantity:,.0f}",
    } + (" " + _("(%(n)s participants)") % {"n": item.participants} if item.participants else "")


def plane_svg(points: list[tuple[str, np.ndarray, np.ndarray, float, float]], wtp: float) -> str:
    """Bootstrap replicates of (Δeffect, Δcost) per comparison, the point estimates, and the
    line of the reference willingness to pay."""
    figure = MplFigure(figsize=(6.5, 4.8))
    axes = figure.add_axes((0.14, 0.12, 0.82, 0.8))
    for index, (label, de, dc, pe, pc) in enumerate(points):
        colour = COLOURS[index % len(COLOURS)]
        axes.scatter(de, dc, s=4, alpha=0.25, color=colour, label=label, linewidths=0)
        axes.scatter([pe], [pc], s=40, color=colour, edgecolors="black", zorder=3)
    axes.axhline(0, color="grey", linewidth=0.8)
    axes.axvline(0, color="grey", linewidth=0.8)
    low, high = axes.get_xlim()
    xs = np.array([low, high])
    axes.plot(xs, wtp * xs, linestyle="--", color="black", linewidth=1)
    axes.set_xlim(low, high)
    axes.set_xlabel(_("Incremental effect (months in work)"))
    axes.set_ylabel(_("Incremental cost"))
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", frameon=False, markerscale=3)
    return to_svg(figure)


def ceac_svg(curves: list[tuple[str, np.ndarray, np.ndarray]]) -> str:
    figure = MplFigure(figsize=(6.5, 4))
    axes = figure.add_axes((0.12, 0.14, 0.84, 0.8))
    for index, (label, wtp, share) in enumerate(curves):
        axes.plot(wtp, share, color=COLOURS[index % len(COLOURS)], label=label, linewidth=1.6)
    axes.set_ylim(0, 1)
    axes.set_xlabel(_("Willingness to pay per month in work"))
    axes.set_ylabel(_("Probability cost-effective"))
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", frameon=False)
    return to_svg(figure)


def dictionary() -> pd.DataFrame:
    labels = {
        "study_id": _("Study id (pseudonymous)"),
        "arm": _("Arm code"),
        "site": _("Site code"),
        "complete": _("Every cost known (1) or something left out (0): not analysed"),
        **component_labels(),
    }
    return pd.DataFrame({"column": list(labels), "label": list(labels.values())})


def economic_sections(inp: ReportInput, names: dict[str, str]) -> list[Section]:
    """The cost-effectiveness section; arms by ``names`` (codes only when blinded)."""
    current = settings_for(inp.trial)
    section = Section(key="cost_effectiveness", title=_("Cost-effectiveness"))
    if not UnitCost.objects.filter(trial=inp.trial).exists():
        # Not worth reading a million contacts for: say so and stop.
        section.problems.append(
            _("No unit costs or no randomised participants: nothing to evaluate.")
        )
        return [section]
    data = inp.shared("economic_data", lambda: extract.economic_data(inp.trial, today=inp.cut_off))
    settings = data.settings
    section.text.append(
        _(
            "Costs per participant over %(h)s months from randomisation, in %(year)s prices "
            "(%(cur)s), discounted by %(rate)s %% a year after the first 12 months: staff and "
            "partner time of the logged contacts at the unit cost of each minute, fixed costs per "
            "site and per participant, and benefit payments for each month in a register state. "
            "The effect is months in work (%(states)s), discounted at the same rate. Complete "
            "cases: participants with any cost left out are not analysed."
        )
        % {
            "h": settings.horizon_months,
            "year": settings.price_year,
            "cur": current.currency,
            "rate": f"{settings.discount_rate * 100:g}",
            "states": ", ".join(settings.work_states),
        }
    )
    if data.participants.empty or data.rates.empty:
        section.problems.append(
            _("No unit costs or no randomised participants: nothing to evaluate.")
        )
        return [section]
    result = evaluation.evaluate(
        data.participants,
        data.contacts,
        data.months,
        data.rates,
        settings,
        wtp_max=float(current.wtp_max),
        replicates=current.replicates,
        seed=inp.seed,
        clustered=inp.data.design == "cluster",
    )
    for item in result.left_out:
        section.problems.append(_("Left out, not counted as zero:") + " " + left_out_text(item))
    if data.employer_contacts:
        section.problems.append(
            _(
                "%(n)s contacts with employers about no single participant are not in the "
                "costs per participant."
            )
            % {"n": data.employer_contacts}
        )
    analysed = len(result.complete)
    section.text.append(
        _("%(n)s of %(all)s participants have every cost known and are analysed.")
        % {"n": analysed, "all": len(result.per_participant)}
    )
    labels = component_labels()
    means = evaluation.cost_table(result)
    means["arm"] = means["arm"].map(lambda code: names.get(code, code))
    section.tables.append(
        Table(
            key="economic_costs_by_arm",
            title=_("Mean cost per participant by arm"),
            frame=means,
            labels={"arm": _("Arm"), "n": _("N"), **labels},
        )
    )
    rows = []
    plane: list[Any] = []
    curves: list[Any] = []
    sensitivity_rows = []
    for comparison in result.comparisons:
        r = comparison.result
        arm, control = comparison.arm, comparison.control
        label = f"{names.get(arm, arm)} – {names.get(control, control)}"
        ref = int(np.argmin(np.abs(r.wtp - result.reference_wtp)))
        rows.append(
            {
                "comparison": label,
                "n_treated": r.point.n_treated,
                "n_control": r.point.n_control,
                "delta_cost": _none(r.point.delta_cost),
                "delta_cost_low": _none(r.ci_cost[0]),
                "delta_cost_high": _none(r.ci_cost[1]),
                "delta_effect": _none(r.point.delta_effect),
                "delta_effect_low": _none(r.ci_effect[0]),
                "delta_effect_high": _none(r.ci_effect[1]),
                "icer": _none(r.point.icer),
                "wtp": float(r.wtp[ref]),
                "nmb": _none(r.nmb[ref]),
                "nmb_low": _none(r.ci_nmb[ref][0]),
                "nmb_high": _none(r.ci_nmb[ref][1]),
                "probability": _none(r.ceac[ref]),
            }
        )
        plane.append(
            (label, r.delta_effect, r.delta_cost, r.point.delta_effect, r.point.delta_cost)
        )
        curves.append((label, r.wtp, r.ceac))
        for s in comparison.sensitivity:
            sensitivity_rows.append(
                {
                    "comparison": label,
                    "varied": s.name,
                    "value": s.value,
                    "delta_cost": _none(s.delta_cost),
                    "delta_effect": _none(s.delta_effect),
                    "icer": _none(s.icer),
                    "nmb": _none(s.nmb),
                }
            )
    if not rows:
        section.problems.append(_("No comparison with a control arm could be made."))
        return [section]
    kind = _("by cluster") if inp.data.design == "cluster" else _("by participant within arm")
    section.tables.append(
        Table(
            key="economic_incremental",
            title=_("Incremental cost, effect and net monetary benefit"),
            frame=pd.DataFrame(rows),
            labels={
                "comparison": _("Comparison"),
                "n_treated": _("N intervention"),
                "n_control": _("N control"),
                "delta_cost": _("Δ cost"),
                "delta_cost_low": _("95 % CI low"),
                "delta_cost_high": _("95 % CI high"),
                "delta_effect": _("Δ months in work"),
                "delta_effect_low": _("95 % CI low"),
                "delta_effect_high": _("95 % CI high"),
                "icer": _("ICER"),
                "wtp": _("Willingness to pay"),
                "nmb": _("Net monetary benefit"),
                "nmb_low": _("95 % CI low"),
                "nmb_high": _("95 % CI high"),
                "probability": _("Probability cost-effective"),
            },
            notes=[
                _(
                    "Percentile intervals from %(b)s bootstrap replicates (%(kind)s, seed "
                    "%(seed)s). ICER: incremental cost per month in work; not shown when the "
                    "effects are equal. Net monetary benefit = willingness to pay × Δ effect − "
                    "Δ cost."
                )
                % {"b": current.replicates, "kind": kind, "seed": inp.seed}
            ],
        )
    )
    plane_table = pd.concat(
        [
            pd.DataFrame({"comparison": p[0], "delta_effect": p[1], "delta_cost": p[2]})
            for p in plane
        ],
        ignore_index=True,
    )
    section.figures.append(
        Figure(
            key="ce_plane",
            title=_("Cost-effectiveness plane"),
            svg=plane_svg(plane, result.reference_wtp),
            table=Table(
                key="ce_plane_replicates",
                title=_("Bootstrap replicates of the cost-effectiveness plane"),
                frame=plane_table,
                labels={
                    "comparison": _("Comparison"),
                    "delta_effect": _("Δ months in work"),
                    "delta_cost": _("Δ cost"),
                },
            ),
        )
    )
    ceac_table = pd.concat(
        [pd.DataFrame({"comparison": c[0], "wtp": c[1], "probability": c[2]}) for c in curves],
        ignore_index=True,
    )
    section.figures.append(
        Figure(
            key="ceac",
            title=_("Cost-effectiveness acceptability curve"),
            svg=ceac_svg(curves),
            table=Table(
                key="ceac",
                title=_("Probability cost-effective by willingness to pay"),
                frame=ceac_table,
                labels={
                    "comparison": _("Comparison"),
                    "wtp": _("Willingness to pay"),
                    "probability": _("Probability cost-effective"),
                },
            ),
        )
    )
    varied = {
        "staff_minute": _("Staff minute cost ×"),
        "partner_minute": _("Partner minute cost ×"),
        "site": _("Fixed cost per site ×"),
        "participant": _("Fixed cost per participant ×"),
        "benefit": _("Benefit rates ×"),
        "discount": _("Discount rate"),
    }
    sensitivity = pd.DataFrame(sensitivity_rows)
    section.tables.append(
        Table(
            key="economic_sensitivity",
            title=_("One-way sensitivity analyses"),
            frame=sensitivity,
            labels={
                "comparison": _("Comparison"),
                "varied": _("Varied"),
                "value": _("Value"),
                "delta_cost": _("Δ cost"),
                "delta_effect": _("Δ months in work"),
                "icer": _("ICER"),
                "nmb": _("Net monetary benefit"),
            },
            shown={"varied": [varied.get(v, v) for v in sensitivity["varied"]]},
            group="comparison",
            notes=[
                _("Net monetary benefit at a willingness to pay of %(w)s per month in work.")
                % {"w": f"{result.reference_wtp:,.0f}"}
            ],
        )
    )
    export = result.per_participant.merge(
        data.participants[["participant_id", "study_id"]], on="participant_id"
    )
    columns = ["study_id", "arm", "site", "complete", *costs.COMPONENTS, "total_cost"]
    columns.append("months_in_work")
    export = export[columns].sort_values("study_id")
    export["complete"] = export["complete"].astype(int)
    files = inp.cache.setdefault(ZIP_FILES_KEY, {})
    files["economic_costs.csv"] = render._csv(export)
    files["economic_costs_dictionary.csv"] = render._csv(dictionary())
    section.text.append(
        _(
            "The costs of each participant are in the ZIP (economic_costs.csv, described in "
            "economic_costs_dictionary.csv)."
        )
    )
    return [section]
