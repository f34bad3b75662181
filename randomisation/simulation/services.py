"""Scheme simulations as background jobs: what to simulate, asking for a run, and running it.

A run keeps everything it needs in ``SimulationRun.parameters`` (the scheme as a
``SchemeSpec``, the planned mix, the sizes and its own random seed), so editing a draft
afterwards does not change a run already asked for, and a run can be repeated exactly.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import secrets
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from randomisation.engine import SchemeSpec
from randomisation.schemes.models import Scheme
from randomisation.schemes.services import arm_weights, scheme_problems
from randomisation.simulation import engine
from randomisation.simulation.models import SimulationRun
from trial import jobs
from trial.models import CovariateDefinition
from trial.services import TrialError

logger = logging.getLogger(__name__)


def spec_for(scheme: Scheme) -> SchemeSpec:
    """The in-memory scheme the engine runs: the same arms, weights and settings as the
    randomisation service uses. Only for schemes that allocate participants."""
    if scheme.is_cluster:
        raise ValueError("cluster schemes allocate sites, not participants")
    return SchemeSpec(
        method=scheme.method,  # type: ignore[arg-type]  # a Scheme.Method value
        arms=tuple(arm_weights(scheme.trial)),
        block_sizes=tuple(scheme.block_sizes),
        strata_factors=tuple(scheme.strata_factors),
        minimisation_factors=tuple(
            (item["factor"], float(item["weight"])) for item in scheme.minimisation_factors
        ),
        p_best=float(scheme.p_best),
        measure=scheme.imbalance_measure,  # type: ignore[arg-type]  # a Scheme.Measure value
    )


def spec_to_json(spec: SchemeSpec) -> dict[str, Any]:
    return dataclasses.asdict(spec)


def spec_from_json(data: dict[str, Any]) -> SchemeSpec:
    return SchemeSpec(
        method=data["method"],
        arms=tuple((code, int(weight)) for code, weight in data["arms"]),
        block_sizes=tuple(int(size) for size in data["block_sizes"]),
        strata_factors=tuple(data["strata_factors"]),
        minimisation_factors=tuple(
            (factor, float(weight)) for factor, weight in data["minimisation_factors"]
        ),
        p_best=float(data["p_best"]),
        measure=data["measure"],
    )


def mix_levels(scheme: Scheme) -> dict[str, list[tuple[str, str]]]:
    """For each factor the scheme uses, its levels as (value, label), in the values the
    randomisation service sees (site codes, ``True``/``False``, choice values)."""
    trial = scheme.trial
    covariates = {c.key: c for c in trial.covariates.all()}
    levels: dict[str, list[tuple[str, str]]] = {}
    for factor in engine.scheme_factors(spec_for(scheme)):
        if factor == "site":
            levels[factor] = [(s.code, f"{s.code} {s.name}") for s in trial.sites.order_by("code")]
            continue
        definition = covariates.get(factor)
        if definition is None:
            continue
        if definition.kind == CovariateDefinition.Kind.BOOLEAN:
            levels[factor] = [("False", _("No")), ("True", _("Yes"))]
        else:
            levels[factor] = [(str(value), str(label)) for value, label in definition.choices]
    return levels


def request_simulation(
    scheme: Scheme,
    *,
    n_trials: int,
    trial_size: int,
    strata_mix: dict[str, dict[str, float]],
    actor: User | None,
) -> SimulationRun:
    """Record a simulation of the scheme as it is now and queue it once the row is committed.

    Raises TrialError for a cluster scheme or a scheme that could not be locked as it is. If
    the broker cannot be reached the run is marked failed, with the reason, instead.
    """
    if scheme.is_cluster:
        raise TrialError(_("Simulation is available for schemes that allocate participants."))
    problems = scheme_problems(scheme)
    if problems:
        raise TrialError(next(iter(problems.values())))
    spec = spec_for(scheme)
    with transaction.atomic():
        run = SimulationRun.objects.create(
            scheme=scheme,
            parameters={
                "n_trials": n_trials,
                "trial_size": trial_size,
                "strata_mix": strata_mix,
                "spec": spec_to_json(spec),
                "seed": secrets.token_hex(32),
                "scheme_version": scheme.version,
            },
            total=n_trials,
            requested_by=actor,
        )
        jobs.enqueue_on_commit(run)
    return run


def execute(run_id: int) -> str:
    """Run a queued simulation, storing progress, then the result or the error.

    Safe to repeat: only a queued run, or a running one whose worker's lease ran out, is
    claimed (``trial.jobs.claim``); a second delivery of a finished run does nothing. The run
    is seeded, so a run taken over gives the result the first would have. Whatever goes wrong,
    the run ends as failed with the reason; a worker that dies is covered by the job sweep.
    Returns the run's final status, or the claim's ``busy``, ``skipped`` or ``missing``.
    """
    claim, run = jobs.claim(SimulationRun, run_id)
    if run is None:
        return claim
    with jobs.held(run) as rows:
        return _simulate(run, rows)


def _simulate(run: SimulationRun, rows: QuerySet[SimulationRun]) -> str:
    """The work of a claimed run; ``rows`` match it while this attempt holds it."""
    parameters = run.parameters
    last_percent = -1

    def progress(done: int, total: int) -> None:
        # Each new percent is stored (the lease is kept by ``jobs.held``).
        nonlocal last_percent
        percent = 100 * done // total
        if percent > last_percent:
            last_percent = percent
            rows.update(done=done, total=total, heartbeat_at=timezone.now())

    try:
        result = engine.simulate(
            spec_from_json(parameters["spec"]),
            n_trials=int(parameters["n_trials"]),
            trial_size=int(parameters["trial_size"]),
            strata_mix=parameters["strata_mix"],
            seed=bytes.fromhex(parameters["seed"]),
            progress=progress,
        )
    except Exception as error:  # whatever it was, the run must not stay running
        logger.exception("simulation %s failed", run.pk)
        message = str(error) if isinstance(error, ValueError) else type(error).__name__
        jobs.fail(run, _("The simulation failed: %(reason)s") % {"reason": message}, rows=rows)
        return SimulationRun.Status.FAILED
    finished = rows.update(
        status=SimulationRun.Status.DONE,
        result=_finite(result.as_dict()),
        done=run.total,
        finished_at=timezone.now(),
    )
    if not finished:  # the sweep gave the run to another worker meanwhile
        return jobs.Claim.SKIPPED
    return SimulationRun.Status.DONE


def _finite(value: Any) -> Any:
    """JSON-safe: NaN and infinities (not valid JSON) become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value
