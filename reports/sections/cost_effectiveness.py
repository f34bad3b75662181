"""The cost-effectiveness section (its own report kind, and a part of the full report): unit
costs applied to the contact log and the register months (``economics.extract``), the analysis
from ``economics.evaluation``, the plane and the acceptability curve, and the per-participant
costs for the ZIP with their dictionary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from django.utils.translation import gettext as _
from matplotlib.figure import Figure as MplFigure

from economics import costs, evaluation, extract, imputation, plans
from economics.models import EconomicSettings, PlanUnitCosts, UnitCost
from economics.services import settings_for
from reports import render
from reports.analysis.figures import COLOURS, to_svg
from reports.analysis.results import Figure, Section, Table
from reports.analysis.text import number
from reports.sections.base import ReportInput
from trial.models import Trial

ZIP_FILES_KEY = "zip_files"  # ReportInput.cache entry the pipeline adds to the ZIP


def _none(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def component_labels(effect: str = "") -> dict[str, str]:
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
        "earnings": _("Earnings (not a cost)"),
        "months_in_work": _("Months in work"),
        "effect": _("Effect (%(name)s)") % {"name": effect or _("months in work")},
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
        "qty": number(item.quantity, 0),
    } + (" " + _("(%(n)s participants)") % {"n": item.participants} if item.participants else "")


def plane_svg(
    points: list[tuple[str, np.ndarray, np.ndarray, float, float]], wtp: float, effect: str
) -> str:
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
    axes.set_xlabel(_("Incremental effect (%(name)s)") % {"name": effect})
    axes.set_ylabel(_("Incremental cost"))
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", frameon=False, markerscale=3)
    return to_svg(figure)


def ceac_svg(curves: list[tuple[str, np.ndarray, np.ndarray]], effect: str) -> str:
    figure = MplFigure(figsize=(6.5, 4))
    axes = figure.add_axes((0.12, 0.14, 0.84, 0.8))
    for index, (label, wtp, share) in enumerate(curves):
        axes.plot(wtp, share, color=COLOURS[index % len(COLOURS)], label=label, linewidth=1.6)
    axes.set_ylim(0, 1)
    axes.set_xlabel(_("Willingness to pay per unit of effect (%(name)s)") % {"name": effect})
    axes.set_ylabel(_("Probability cost-effective"))
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", frameon=False)
    return to_svg(figure)


def dictionary(effect: str) -> pd.DataFrame:
    labels = {
        "study_id": _("Study id (pseudonymous)"),
        "arm": _("Arm code"),
        "site": _("Site code"),
        "complete": _("Every cost known (1) or something left out (0): not analysed"),
        **component_labels(effect),
    }
    return pd.DataFrame({"column": list(labels), "label": list(labels.values())})


@dataclass
class Context:
    """What the section's parts share: the data, the settings in force, the effect, the method."""

    inp: ReportInput
    names: dict[str, str]
    section: Section
    data: extract.EconomicData
    current: EconomicSettings
    frozen: PlanUnitCosts | None
    effect: pd.Series | None = None  # by participant id; None: months in work
    effect_label: str = ""
    missing: str = evaluation.COMPLETE_CASE

    @property
    def clustered(self) -> bool:
        """Clusters, not participants, are resampled and imputed by (cluster and stepped-wedge
        designs)."""
        return bool(self.inp.data.design != Trial.Design.INDIVIDUAL)


def economic_sections(inp: ReportInput, names: dict[str, str]) -> list[Section]:
    """The cost-effectiveness section; arms by ``names`` (codes only when blinded)."""
    section = Section(key="cost_effectiveness", title=_("Cost-effectiveness"))
    frozen = plans.frozen_for(inp.trial)
    if frozen is None and not UnitCost.objects.filter(trial=inp.trial).exists():
        # Not worth reading a million contacts for: say so and stop.
        section.problems.append(
            _("No unit costs or no randomised participants: nothing to evaluate.")
        )
        return [section]
    data = inp.shared(
        "economic_data",
        lambda: extract.economic_data(inp.trial, today=inp.cut_off, frozen=frozen),
    )
    current = data.economic_settings or settings_for(inp.trial)
    ctx = Context(inp, names, section, data, current, frozen)
    version_text(ctx)
    choose_effect(ctx)
    ctx.missing = inp.plan.missing if inp.plan is not None else evaluation.COMPLETE_CASE
    if ctx.missing != evaluation.MULTIPLE_IMPUTATION:
        ctx.missing = evaluation.COMPLETE_CASE
    section.text.append(method_text(ctx))
    if data.participants.empty or data.rates.empty:
        section.problems.append(
            _("No unit costs or no randomised participants: nothing to evaluate.")
        )
        return [section]
    earnings = current.earnings == EconomicSettings.Earnings.REGISTER
    result = evaluation.evaluate(
        data.participants,
        data.contacts,
        data.months,
        data.rates,
        data.settings,
        wtp_max=float(current.wtp_max),
        replicates=current.replicates,
        seed=inp.seed,
        clustered=ctx.clustered,
        effect=ctx.effect,
        missing=ctx.missing,
        earnings=earnings,
    )
    left_out_problems(ctx, result)
    cost_means_table(ctx, result)
    if not result.comparisons:
        section.problems.append(_("No comparison with a control arm could be made."))
        return [section]
    incremental_table(ctx, result)
    figures(ctx, result)
    sensitivity_table(ctx, result)
    zip_files(ctx, result)
    return [section]


def version_text(ctx: Context) -> None:
    """The unit-cost table's hash, and whether it changed since the plan was locked."""
    live = plans.canonical_rows(ctx.inp.trial)
    live_hash = plans.table_hash(live)
    if ctx.frozen is None:
        ctx.section.text.append(
            _(
                "Unit costs as they are now (no locked analysis plan holds a copy of them): "
                "%(n)s rows, table hash (SHA-256) %(hash)s."
            )
            % {"n": len(live), "hash": live_hash}
        )
        return
    plan = ctx.frozen.plan
    text = _(
        "Unit costs and settings as frozen with the analysis plan (version %(v)s, locked "
        "%(when)s): %(n)s rows, table hash (SHA-256) %(hash)s."
    ) % {
        "v": plan.version,
        "when": f"{plan.locked_at:%Y-%m-%d}" if plan.locked_at else "–",
        "n": len(ctx.frozen.rows),
        "hash": ctx.frozen.table_hash,
    }
    changes = plans.table_changes(list(ctx.frozen.rows), live)
    if not changes.changed:
        ctx.section.text.append(text + " " + _("The table has not changed since."))
        return
    ctx.section.text.append(
        text
        + " "
        + _("The table has changed since (now hash %(hash)s); this analysis uses the frozen rows.")
        % {"hash": live_hash}
    )
    for row in changes.removed:
        ctx.section.problems.append(
            _("Unit cost changed or removed since the plan was locked: %(row)s")
            % {"row": plans.row_label(row)}
        )
    for row in changes.added:
        ctx.section.problems.append(
            _("Unit cost added or changed since the plan was locked: %(row)s")
            % {"row": plans.row_label(row)}
        )


def choose_effect(ctx: Context) -> None:
    """Months in work, or the plan's primary outcome when the settings say so and it is a
    number per participant (at the plan's time point, or a register endpoint)."""
    ctx.effect_label = _("months in work")
    wanted = ctx.current.effect == EconomicSettings.Effect.PRIMARY_OUTCOME
    plan = ctx.inp.plan
    if not wanted:
        return
    values = primary_outcome_values(ctx.inp) if plan is not None else None
    if values is None or plan is None:
        ctx.section.problems.append(
            _(
                "The settings ask for the plan's primary outcome as the effect, but it is not "
                "a number per participant (or there is no plan): months in work are used."
            )
        )
        return
    ids = ctx.data.participants.set_index("study_id")["participant_id"]
    ctx.effect = pd.Series(values.to_numpy(), index=values.index.map(ids)).loc[
        lambda s: s.index.notna()
    ]
    name = plan.primary_outcome
    ctx.effect_label = str(ctx.inp.data.labels.get(name, name))


def primary_outcome_values(inp: ReportInput) -> pd.Series | None:
    """The plan's primary outcome by study id (NaN: not observed), or None."""
    plan, data = inp.plan, inp.data
    if plan is None:
        return None
    name = plan.primary_outcome
    if data.registers is not None and name in data.registers.columns:
        frame = data.registers[["study_id", name]]
    elif name in data.outcomes.columns:
        frame = data.outcomes.loc[data.outcomes["visit"] == plan.time_point, ["study_id", name]]
    else:
        return None
    values = pd.to_numeric(frame[name], errors="coerce")
    if frame[name].notna().sum() and values.notna().sum() == 0:
        return None
    return pd.Series(values.to_numpy(dtype=float), index=frame["study_id"]).groupby(level=0).last()


def method_text(ctx: Context) -> str:
    settings = ctx.data.settings
    text = _(
        "Costs per participant over %(h)s months from randomisation, in %(year)s prices "
        "(%(cur)s), discounted by %(rate)s %% a year after the first 12 months: staff and "
        "partner time of the logged contacts at the unit cost of each minute, fixed costs per "
        "site and per participant, and benefit payments for each month in a register state."
    ) % {
        "h": settings.horizon_months,
        "year": settings.price_year,
        "cur": ctx.current.currency,
        "rate": f"{settings.discount_rate * 100:g}",
    }
    if ctx.effect is None:
        text += " " + _(
            "The effect is months in work (%(states)s), discounted at the same rate."
        ) % {"states": ", ".join(settings.work_states)}
    else:
        text += " " + _(
            "The effect is the analysis plan's primary outcome, %(name)s, at its time point "
            "(not discounted)."
        ) % {"name": ctx.effect_label}
    if ctx.missing == evaluation.MULTIPLE_IMPUTATION:
        text += " " + _(
            "Missing costs and effects, as the plan says, by multiple imputation: chained "
            "equations by arm with predictive mean matching, %(m)s imputations, each "
            "bootstrapped, pooled by Rubin's rules (impute, then bootstrap). The sensitivity "
            "analyses use complete cases."
        ) % {"m": imputation.IMPUTATIONS}
        if ctx.clustered:
            text += " " + _(
                "The imputation model has an indicator for each cluster, so that imputed values "
                "keep the differences between clusters."
            )
    else:
        text += " " + _(
            "Complete cases, as the plan says: participants with any cost or the effect "
            "missing are not analysed."
        )
    if ctx.current.earnings == EconomicSettings.Earnings.REGISTER:
        text += " " + _(
            "Participants' earnings (months in a register state × the monthly earnings of the "
            "unit-cost table) are reported beside the costs, not in them (the perspective of "
            "the payer: services and benefits); the societal perspective counts them as a "
            "benefit and nets them off the costs."
        )
    return text


def left_out_problems(ctx: Context, result: evaluation.Evaluation) -> None:
    for item in result.left_out:
        ctx.section.problems.append(_("Left out, not counted as zero:") + " " + left_out_text(item))
    if ctx.data.employer_contacts:
        ctx.section.problems.append(
            _(
                "%(n)s contacts with employers about no single participant are not in the "
                "costs per participant."
            )
            % {"n": ctx.data.employer_contacts}
        )
    everyone = result.per_participant
    complete = int(everyone["complete"].sum())
    if result.missing == evaluation.MULTIPLE_IMPUTATION:
        text = _(
            "%(n)s of %(all)s participants have every cost and the effect known; the others' "
            "missing values are imputed."
        )
    else:
        text = _(
            "%(n)s of %(all)s participants have every cost and the effect known and are analysed."
        )
    ctx.section.text.append(text % {"n": complete, "all": len(everyone)})


def cost_means_table(ctx: Context, result: evaluation.Evaluation) -> None:
    means = evaluation.cost_table(result)
    means["arm"] = means["arm"].map(lambda code: ctx.names.get(code, code))
    ctx.section.tables.append(
        Table(
            key="economic_costs_by_arm",
            title=_("Mean cost per participant by arm (complete cases)"),
            frame=means,
            labels={"arm": _("Arm"), "n": _("N"), **component_labels(ctx.effect_label)},
        )
    )


def comparison_label(ctx: Context, comparison: evaluation.Comparison) -> str:
    arm, control = comparison.arm, comparison.control
    return f"{ctx.names.get(arm, arm)} – {ctx.names.get(control, control)}"


def incremental_row(label: str, r: Any, reference_wtp: float) -> dict[str, Any]:
    ref = int(np.argmin(np.abs(r.wtp - reference_wtp)))
    return {
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


def incremental_table(ctx: Context, result: evaluation.Evaluation) -> None:
    rows = []
    for comparison in result.comparisons:
        label = comparison_label(ctx, comparison)
        rows.append(incremental_row(label, comparison.result, result.reference_wtp))
        if comparison.societal is not None:
            societal = _("%(c)s, societal (costs net of earnings)") % {"c": label}
            rows.append(incremental_row(societal, comparison.societal, result.reference_wtp))
    kind = _("by cluster") if ctx.clustered else _("by participant within arm")
    first = result.comparisons[0].result
    notes = [
        _(
            "Percentile intervals from %(b)s bootstrap replicates (%(kind)s, seed %(seed)s). "
            "ICER: incremental cost per unit of effect (%(effect)s); not shown when the effects "
            "are equal. Net monetary benefit = willingness to pay × Δ effect − Δ cost."
        )
        % {
            "b": ctx.current.replicates,
            "kind": kind,
            "seed": ctx.inp.seed,
            "effect": ctx.effect_label,
        }
    ]
    if first.imputations:
        notes.append(
            _(
                "Multiple imputation: intervals by Rubin's rules (t reference) from the bootstrap "
                "variance of each of %(m)s completed data sets; fraction of missing information "
                "%(fc)s (cost), %(fe)s (effect)."
            )
            % {"m": first.imputations, "fc": f"{first.fmi[0]:.2f}", "fe": f"{first.fmi[1]:.2f}"}
        )
    ctx.section.tables.append(
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
                "delta_effect": _("Δ effect"),
                "delta_effect_low": _("95 % CI low"),
                "delta_effect_high": _("95 % CI high"),
                "icer": _("ICER"),
                "wtp": _("Willingness to pay"),
                "nmb": _("Net monetary benefit"),
                "nmb_low": _("95 % CI low"),
                "nmb_high": _("95 % CI high"),
                "probability": _("Probability cost-effective"),
            },
            notes=notes,
        )
    )


def figures(ctx: Context, result: evaluation.Evaluation) -> None:
    plane: list[Any] = []
    curves: list[Any] = []
    for comparison in result.comparisons:
        r = comparison.result
        label = comparison_label(ctx, comparison)
        plane.append(
            (label, r.delta_effect, r.delta_cost, r.point.delta_effect, r.point.delta_cost)
        )
        curves.append((label, r.wtp, r.ceac))
    plane_table = pd.concat(
        [
            pd.DataFrame({"comparison": p[0], "delta_effect": p[1], "delta_cost": p[2]})
            for p in plane
        ],
        ignore_index=True,
    )
    effect = ctx.effect_label
    ctx.section.figures.append(
        Figure(
            key="ce_plane",
            title=_("Cost-effectiveness plane"),
            svg=plane_svg(plane, result.reference_wtp, effect),
            table=Table(
                key="ce_plane_replicates",
                title=_("Bootstrap replicates of the cost-effectiveness plane"),
                frame=plane_table,
                labels={
                    "comparison": _("Comparison"),
                    "delta_effect": _("Δ effect"),
                    "delta_cost": _("Δ cost"),
                },
            ),
        )
    )
    ceac_table = pd.concat(
        [pd.DataFrame({"comparison": c[0], "wtp": c[1], "probability": c[2]}) for c in curves],
        ignore_index=True,
    )
    ctx.section.figures.append(
        Figure(
            key="ceac",
            title=_("Cost-effectiveness acceptability curve"),
            svg=ceac_svg(curves, effect),
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


def sensitivity_table(ctx: Context, result: evaluation.Evaluation) -> None:
    rows = []
    for comparison in result.comparisons:
        label = comparison_label(ctx, comparison)
        for s in comparison.sensitivity:
            rows.append(
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
    varied = {
        "staff_minute": _("Staff minute cost ×"),
        "partner_minute": _("Partner minute cost ×"),
        "site": _("Fixed cost per site ×"),
        "participant": _("Fixed cost per participant ×"),
        "benefit": _("Benefit rates ×"),
        "discount": _("Discount rate"),
    }
    sensitivity = pd.DataFrame(rows)
    ctx.section.tables.append(
        Table(
            key="economic_sensitivity",
            title=_("One-way sensitivity analyses"),
            frame=sensitivity,
            labels={
                "comparison": _("Comparison"),
                "varied": _("Varied"),
                "value": _("Value"),
                "delta_cost": _("Δ cost"),
                "delta_effect": _("Δ effect"),
                "icer": _("ICER"),
                "nmb": _("Net monetary benefit"),
            },
            shown={"varied": [varied.get(v, v) for v in sensitivity["varied"]]},
            group="comparison",
            notes=[
                _(
                    "Complete cases. Net monetary benefit at a willingness to pay of %(w)s per "
                    "unit of effect (%(effect)s)."
                )
                % {"w": number(result.reference_wtp, 0), "effect": ctx.effect_label},
                *discount_note(result.settings),
            ],
        )
    )


def discount_note(settings: costs.CostSettings) -> list[str]:
    """Why the discount rate is not among the scenarios, when it is not."""
    if settings.horizon_months > 12:
        return []
    return [
        _(
            "The discount rate is not varied: over a time horizon of %(h)s months nothing is "
            "discounted (discounting starts after the first 12 months)."
        )
        % {"h": settings.horizon_months}
    ]


def zip_files(ctx: Context, result: evaluation.Evaluation) -> None:
    """The per-participant costs and their dictionary, into the report's ZIP."""
    export = result.per_participant.merge(
        ctx.data.participants[["participant_id", "study_id"]], on="participant_id"
    )
    columns = ["study_id", "arm", "site", "complete", *costs.COMPONENTS, "total_cost"]
    columns += ["earnings", "months_in_work", "effect"]
    export = export[columns].sort_values("study_id")
    export["complete"] = export["complete"].astype(int)
    files = ctx.inp.cache.setdefault(ZIP_FILES_KEY, {})
    files["economic_costs.csv"] = render.safe_csv(export)
    files["economic_costs_dictionary.csv"] = render.safe_csv(dictionary(ctx.effect_label))
    ctx.section.text.append(
        _(
            "The costs of each participant are in the ZIP (economic_costs.csv, described in "
            "economic_costs_dictionary.csv)."
        )
    )
