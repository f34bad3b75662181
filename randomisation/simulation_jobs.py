"""Scheme simulations as background jobs: what to simulate, asking for a run, and running it.

A run keeps everything it needs in ``SimulationRun.parameters`` (the scheme as a
``SchemeSpec``, the planned mix, the sizes and its own random seed), so editing a draft
afterwards does not change a run already asked for, and a run can be repeated exactly.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import secrets
import time
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from kombu.exceptions import OperationalError

from randomisation import services, simulation
from randomisation.engine import SchemeSpec
from randomisation.models import Scheme, SimulationRun
from trial.models import CovariateDefinition
from trial.services import TrialError

logger = logging.getLogger(__name__)

QUEUE_DOWN = gettext_noop(
    "The task queue could not be reached, so the simulation was not started. "
    "Try again later, or ask the administrator to check the Celery broker."
)
WORKER_LOST = gettext_noop(
    "The worker running this simulation stopped (it was killed or ran out of memory) and the "
    "run was not resumed. Run the simulation again."
)
MAX_ATTEMPTS = 3


def spec_for(scheme: Scheme) -> SchemeSpec:
    """The in-memory scheme the engine runs: the same arms, weights and settings as the
    randomisation service uses. Only for schemes that allocate participants."""
    if scheme.is_cluster:
        raise ValueError("cluster schemes allocate sites, not participants")
    return SchemeSpec(
        method=scheme.method,  # type: ignore[arg-type]
        arms=tuple(services.arm_weights(scheme.trial)),
        block_sizes=tuple(scheme.block_sizes),
        strata_factors=tuple(scheme.strata_factors),
        minimisation_factors=tuple(
            (item["factor"], float(item["weight"])) for item in scheme.minimisation_factors
        ),
        p_best=float(scheme.p_best),
        measure=scheme.imbalance_measure,  # type: ignore[arg-type]
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
    for factor in simulation.scheme_factors(spec_for(scheme)):
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
    actor: AbstractBaseUser | None,
) -> SimulationRun:
    """Record a simulation of the scheme as it is now and queue it once the row is committed.

    Raises TrialError for a cluster scheme or a scheme that could not be locked as it is. If
    the broker cannot be reached the run is marked failed, with the reason, instead.
    """
    if scheme.is_cluster:
        raise TrialError(_("Simulation is available for schemes that allocate participants."))
    problems = services.scheme_problems(scheme)
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
        transaction.on_commit(partial(enqueue, run.pk))
    return run


def enqueue(run_id: int) -> None:
    """Send the run to the workers; a broker that cannot be reached fails the run, not the
    request."""
    from randomisation.tasks import run_simulation

    try:
        run_simulation.delay(run_id)
    except OperationalError:
        logger.warning("simulation %s: broker unreachable", run_id, exc_info=True)
        SimulationRun.objects.filter(pk=run_id, status=SimulationRun.Status.QUEUED).update(
            status=SimulationRun.Status.FAILED,
            error=_(QUEUE_DOWN),
            finished_at=timezone.now(),
        )


def lease() -> dt.timedelta:
    return dt.timedelta(seconds=settings.SIMULATION_LEASE_SECONDS)


def _claim(run_id: int) -> str:
    """Take the run for this worker: a queued one, or a running one whose heartbeat is older
    than the lease (its worker died). Returns ``claimed``; ``busy`` if another worker holds a
    fresh lease; ``skipped`` if it is finished or failed (or has used up its attempts, which
    fails it); ``missing``."""
    now = timezone.now()
    stale = Q(status=SimulationRun.Status.RUNNING) & (
        Q(heartbeat_at__lt=now - lease()) | Q(heartbeat_at__isnull=True)
    )
    with transaction.atomic():
        run = (
            SimulationRun.objects.select_for_update()
            .filter(pk=run_id)
            .filter(Q(status=SimulationRun.Status.QUEUED) | stale)
            .first()
        )
        if run is None:
            status = SimulationRun.objects.filter(pk=run_id).values_list("status", flat=True)
            current = status.first()
            if current is None:
                logger.warning("simulation %s does not exist", run_id)
                return "missing"
            return "busy" if current == SimulationRun.Status.RUNNING else "skipped"
        if run.attempts >= MAX_ATTEMPTS:
            run.status = SimulationRun.Status.FAILED
            run.error = _(WORKER_LOST)
            run.finished_at = now
            run.save(update_fields=["status", "error", "finished_at"])
            return "skipped"
        run.status = SimulationRun.Status.RUNNING
        run.attempts += 1
        run.heartbeat_at = now
        run.done = 0
        run.save(update_fields=["status", "attempts", "heartbeat_at", "done"])
    return "claimed"


def execute(run_id: int) -> str:
    """Run a queued simulation, storing progress, then the result or the error.

    Safe to repeat: only a queued run, or a running one whose worker stopped renewing its lease
    (it was killed), is claimed, under a row lock; a second delivery of a finished run does
    nothing. The run is seeded, so a run taken over gives the result the first would have.
    Whatever goes wrong, the run ends as failed with the reason; it is never left running
    (``fail_stale_simulations`` covers a worker that dies for good). Returns the run's final
    status, ``busy`` (another worker holds the lease), ``skipped`` or ``missing``.
    """
    claim = _claim(run_id)
    if claim != "claimed":
        return claim
    run = SimulationRun.objects.get(pk=run_id)
    parameters = run.parameters
    rows = SimulationRun.objects.filter(pk=run_id)
    last_percent, last_beat = -1, time.monotonic()

    def progress(done: int, total: int) -> None:
        # Each new percent is stored; the heartbeat also at least every 10 s, well inside the
        # lease, however slowly the percents come.
        nonlocal last_percent, last_beat
        percent = 100 * done // total
        if percent > last_percent or time.monotonic() - last_beat >= 10:
            last_percent, last_beat = percent, time.monotonic()
            rows.update(done=done, total=total, heartbeat_at=timezone.now())

    try:
        result = simulation.simulate(
            spec_from_json(parameters["spec"]),
            n_trials=int(parameters["n_trials"]),
            trial_size=int(parameters["trial_size"]),
            strata_mix=parameters["strata_mix"],
            seed=bytes.fromhex(parameters["seed"]),
            progress=progress,
        )
    except Exception as error:  # whatever it was, the run must not stay running
        logger.exception("simulation %s failed", run_id)
        message = str(error) if isinstance(error, ValueError) else type(error).__name__
        rows.update(
            status=SimulationRun.Status.FAILED,
            error=_("The simulation failed: %(reason)s") % {"reason": message},
            finished_at=timezone.now(),
        )
        return SimulationRun.Status.FAILED
    rows.update(
        status=SimulationRun.Status.DONE,
        result=_finite(result.as_dict()),
        done=run.total,
        finished_at=timezone.now(),
    )
    return SimulationRun.Status.DONE


def fail_stale_simulations(*, older_than: dt.timedelta | None = None) -> int:
    """Mark running simulations not heard of for ``older_than`` (default
    SIMULATION_STALE_MINUTES) as failed: their worker died and no redelivery took them over.
    Returns how many. Safe to repeat."""
    if older_than is None:
        older_than = dt.timedelta(minutes=settings.SIMULATION_STALE_MINUTES)
    limit = timezone.now() - older_than
    silent = Q(heartbeat_at__lt=limit) | Q(heartbeat_at__isnull=True, created_at__lt=limit)
    return (
        SimulationRun.objects.filter(status=SimulationRun.Status.RUNNING)
        .filter(silent)
        .update(
            status=SimulationRun.Status.FAILED, error=_(WORKER_LOST), finished_at=timezone.now()
        )
    )


def _finite(value: Any) -> Any:
    """JSON-safe: NaN and infinities (not valid JSON) become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value
