"""Randomising the sites of a cluster or stepped-wedge trial at once, by the locked scheme;
participants randomised later take their site's arm (``allocation.services``).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from randomisation.allocation.log import append
from randomisation.allocation.models import Allocation
from randomisation.cluster import designs
from randomisation.cluster.constrained import constrained
from randomisation.schemes.models import Scheme
from randomisation.schemes.services import arm_weights, lock_trial, scheme_seed
from trial import audit
from trial.models import Site, Trial
from trial.services import TrialError, add_months


def randomise_sites(trial: Trial, *, actor: User | None) -> list[Allocation]:
    """Allocate every site of a cluster trial at once, by the locked scheme.

    Each site gets one allocation record in the chain (for a stepped wedge, its crossover step
    and date); participants randomised later take their site's arm.
    """
    with transaction.atomic():
        trial = lock_trial(trial)
        scheme = Scheme.objects.locked_for(trial)
        if scheme is None or not scheme.is_cluster:
            raise TrialError(_("The trial has no locked scheme that allocates sites."))
        if Allocation.objects.filter(trial=trial, participant=None).exists():
            raise TrialError(_("The sites have already been randomised."))
        sites = list(trial.sites.order_by("code"))
        seed = scheme_seed(scheme)
        weights = arm_weights(trial)
        arms = {arm.code: arm for arm in trial.arms.all()}
        plan = _cluster_plan(scheme, sites, seed, weights)
        created = []
        for site in sites:
            code, details = plan[site.code]
            created.append(
                append(
                    trial,
                    actor=actor,
                    scheme=scheme,
                    site=site,
                    stratum=details.pop("stratum", ""),
                    arm=arms[code],
                    details=details,
                    allocated_on=timezone.localdate(),
                    source=Allocation.Source.SYSTEM,
                )
            )
        audit.record(
            "sites.randomised",
            scheme,
            actor=actor,
            trial=trial,
            data={"sites": len(created), "method": scheme.method},
        )
    return created


def _cluster_plan(
    scheme: Scheme, sites: list[Site], seed: bytes, weights: list[tuple[str, int]]
) -> dict[str, tuple[str, dict[str, Any]]]:
    """Site code -> (arm code, details to keep in its allocation record)."""
    codes = [site.code for site in sites]
    if scheme.method == Scheme.Method.CLUSTER_STRATIFIED:
        labels = {site.code: _site_stratum(scheme, site) for site in sites}
        result = designs.stratified(seed, labels, weights)
        return {c: (result.allocation[c], {"stratum": labels[c]}) for c in codes}
    if scheme.method == Scheme.Method.CLUSTER_PAIRS:
        pairs = [tuple(pair) for pair in scheme.site_pairs]
        paired = {code for pair in pairs for code in pair}
        leftover = [code for code in codes if code not in paired]
        if len(leftover) > 1:
            raise TrialError(
                _("Sites without a pair: %(codes)s.") % {"codes": ", ".join(leftover)},
                field="site_pairs",
            )
        result = designs.pair_matched(
            seed, pairs, weights, leftover=leftover[0] if leftover else None
        )
        partner = dict(result.pairs) | {b: a for a, b in result.pairs}
        return {
            c: (
                result.allocation[c],
                {"stratum": f"pair={'+'.join(sorted((c, partner[c])))}"}
                if c in partner
                else {"stratum": "unpaired"},
            )
            for c in codes
        }
    if scheme.method == Scheme.Method.CLUSTER_CONSTRAINED:
        covariates = {
            code: {
                name: float(scheme.site_covariates[code][name])
                for name in scheme.constraint_covariates
            }
            for code in codes
        }
        result = constrained(seed, covariates, weights, quantile=float(scheme.constraint_cutoff))
        summary = {
            "score": round(result.score, 6),
            "cutoff": round(result.cutoff, 6),
            "candidates": result.n_candidates,
            "kept": result.n_kept,
            "method": result.method,
        }
        return {c: (result.allocation[c], {"constrained": summary}) for c in codes}
    # Stepped wedge: everyone starts in control; the step decides when each site crosses.
    labels = (
        {site.code: _site_stratum(scheme, site) for site in sites}
        if scheme.site_strata_field
        else None
    )
    result = designs.stepped_wedge(seed, codes, scheme.steps or 1, strata=labels)
    control = next(arm.code for arm in scheme.trial.arms.all() if arm.is_control)
    intervention = next(code for code, _w in weights if code != control)
    plan = {}
    for code in codes:
        step = result.step[code]
        crossover = add_months(scheme.first_step_on, (step - 1) * (scheme.step_length_months or 0))  # type: ignore[arg-type]  # required for stepped wedge
        plan[code] = (
            intervention,
            {"step": step, "crossover_on": crossover.isoformat(), "control_arm": control},
        )
    return plan


def _site_stratum(scheme: Scheme, site: Site) -> str:
    field_name = scheme.site_strata_field
    if not field_name:
        return "all"
    if field_name in ("region", "municipality_number"):
        return f"{field_name}={getattr(site, field_name)}"
    return f"{field_name}={scheme.site_covariates.get(site.code, {}).get(field_name, '')}"
