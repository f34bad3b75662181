"""Defining a scheme, checking it, and locking it: the seed, the sealed lists and the
commitment published before the first allocation (and revealed after the trial).

A draft may change until it is locked; a locked version is replaced by a new draft only while
no participant has been randomised with it.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from randomisation import engine
from randomisation.schemes.models import BlockSlot, Scheme
from trial import audit, personal_numbers
from trial.models import Arm, CovariateDefinition, Trial
from trial.services import TrialError

STRATUM_FACTOR_KINDS = {CovariateDefinition.Kind.CHOICE, CovariateDefinition.Kind.BOOLEAN}


def arm_weights(trial: Trial) -> list[tuple[str, int]]:
    return [(arm.code, arm.allocation_weight) for arm in trial.arms.order_by("code")]


SCHEME_SETTINGS = (
    "method",
    "notes",
    "block_sizes",
    "stratify_by_site",
    "strata_covariates",
    "minimisation_factors",
    "p_best",
    "imbalance_measure",
    "site_strata_field",
    "site_pairs",
    "site_covariates",
    "constraint_covariates",
    "constraint_cutoff",
    "steps",
    "first_step_on",
    "step_length_months",
)


def save_draft_scheme(
    trial: Trial, current: Scheme | None, values: dict[str, Any], *, actor: User
) -> Scheme:
    """Create the first draft, or change the draft, with its audit event.

    Raises TrialError if the draft was locked, or another version appeared, meanwhile.
    """
    unknown = set(values) - set(SCHEME_SETTINGS)
    if unknown:
        raise ValueError(f"not scheme settings: {sorted(unknown)}")
    with transaction.atomic():
        if current is None:
            try:
                with transaction.atomic():
                    scheme = Scheme.objects.create(trial=trial, version=1, **values)
            except IntegrityError as error:
                raise TrialError(
                    _("Someone else created a scheme at the same moment. Reload the page.")
                ) from error
            audit.record_created(scheme, actor=actor)
            return scheme
        scheme = Scheme.objects.select_for_update().get(pk=current.pk)
        if scheme.is_locked:
            raise TrialError(_("This version was locked meanwhile and can no longer change."))
        before = audit.snapshot(scheme)
        for name, value in values.items():
            setattr(scheme, name, value)
        scheme.save(update_fields=list(values))
        audit.record_changed(scheme, before, actor=actor)
        return scheme


def new_scheme_version(scheme: Scheme, *, actor: User) -> Scheme:
    """A draft copy of a locked scheme that has not been used yet, as the next version."""
    with transaction.atomic():
        latest = (
            Scheme.objects.select_for_update()
            .filter(trial=scheme.trial)
            .order_by("-version")
            .first()
        )
        if latest is None or latest.pk != scheme.pk or not latest.is_locked:
            raise TrialError(_("There is already a newer draft; edit that one."))
        if latest.allocations.exists():
            raise TrialError(
                _("Participants have been randomised with this version; it cannot be replaced.")
            )
        copy = Scheme.objects.create(
            trial=scheme.trial,
            version=latest.version + 1,
            **{name: getattr(latest, name) for name in SCHEME_SETTINGS},
        )
        audit.record(
            "scheme.created",
            copy,
            actor=actor,
            trial=scheme.trial,
            data={"after": audit.snapshot(copy), "copied_from_version": latest.version},
        )
    return copy


def scheme_problems(scheme: Scheme) -> dict[str | None, str]:
    """What stops the scheme from being locked, by field; empty when it can be locked."""
    trial = scheme.trial
    problems: dict[str | None, str] = {}
    arms = arm_weights(trial)
    if len(arms) < 2:
        problems[None] = _("The trial needs at least two arms before a scheme can be locked.")
        return problems
    cluster_design = trial.design != Trial.Design.INDIVIDUAL
    if scheme.is_cluster != cluster_design:
        problems["method"] = (
            _("A cluster-randomised or stepped-wedge trial needs a method that allocates sites.")
            if cluster_design
            else _("An individually randomised trial needs a method that allocates participants.")
        )
    if scheme.method == Scheme.Method.BLOCKS:
        if not scheme.block_sizes:
            problems["block_sizes"] = _("Give at least one block size.")
        else:
            wrong = engine.check_block_sizes(arms, scheme.block_sizes)
            if wrong:
                problems["block_sizes"] = _(
                    "Block sizes must be multiples of %(unit)s to keep the allocation ratio; "
                    "%(wrong)s is not."
                ) % {"unit": engine.ratio_unit(arms), "wrong": ", ".join(map(str, wrong))}
    covariates = {c.key: c for c in trial.covariates.all()}
    for key in scheme.strata_covariates:
        definition = covariates.get(key)
        if definition is None or definition.kind not in STRATUM_FACTOR_KINDS:
            problems["strata_covariates"] = _(
                "%(key)s cannot define strata: only choice and yes/no covariates can."
            ) % {"key": key}
        elif not definition.required:
            problems["strata_covariates"] = _(
                "%(key)s is optional at enrolment; a stratification factor must be required."
            ) % {"key": key}
    if scheme.method == Scheme.Method.MINIMISATION:
        if not scheme.minimisation_factors:
            problems["minimisation_factors"] = _("Choose at least one minimisation factor.")
        for item in scheme.minimisation_factors:
            key = item.get("factor")
            if key == "site":
                continue
            definition = covariates.get(key)
            if definition is None or definition.kind not in STRATUM_FACTOR_KINDS:
                problems["minimisation_factors"] = _(
                    "%(key)s cannot be a minimisation factor: only the site and choice or "
                    "yes/no covariates can."
                ) % {"key": key}
    if scheme.is_cluster:
        problems.update(_cluster_problems(scheme, arms))
    return problems


def _cluster_problems(scheme: Scheme, arms: list[tuple[str, int]]) -> dict[str | None, str]:
    problems: dict[str | None, str] = {}
    sites = list(scheme.trial.sites.values_list("code", flat=True))
    if len(sites) < 2:
        problems[None] = _("A cluster trial needs at least two sites.")
    if (
        scheme.method in (Scheme.Method.CLUSTER_PAIRS, Scheme.Method.STEPPED_WEDGE)
        and len(arms) != 2
    ):
        problems["method"] = _("This method needs exactly two arms.")
    field_name = scheme.site_strata_field
    if field_name and field_name not in ("region", "municipality_number"):
        lacking = [code for code in sites if field_name not in scheme.site_covariates.get(code, {})]
        if lacking:
            problems["site_strata_field"] = _(
                "%(name)s is neither a site field nor a site covariate given for every site "
                "(missing for %(codes)s)."
            ) % {"name": field_name, "codes": ", ".join(lacking[:10])}
    if scheme.method == Scheme.Method.STEPPED_WEDGE:
        if not scheme.steps or scheme.steps < 1:
            problems["steps"] = _("Give the number of steps.")
        elif scheme.steps > len(sites):
            problems["steps"] = _("There cannot be more steps than sites.")
        if scheme.first_step_on is None:
            problems["first_step_on"] = _("Give the date of the first crossover.")
        if not scheme.step_length_months:
            problems["step_length_months"] = _("Give the months between steps.")
        controls = [arm for arm in scheme.trial.arms.all() if arm.is_control]
        if len(controls) != 1:
            problems["method"] = _("Mark exactly one arm as control for a stepped wedge.")
    if scheme.method == Scheme.Method.CLUSTER_PAIRS:
        paired = [code for pair in scheme.site_pairs for code in pair]
        unknown = sorted(set(paired) - set(sites))
        if unknown:
            problems["site_pairs"] = _("Unknown site codes: %(codes)s.") % {
                "codes": ", ".join(unknown)
            }
        elif len(paired) != len(set(paired)) or any(len(p) != 2 for p in scheme.site_pairs):
            problems["site_pairs"] = _("Each site can be in one pair only, two sites per pair.")
    if scheme.method == Scheme.Method.CLUSTER_CONSTRAINED:
        if not scheme.constraint_covariates:
            problems["constraint_covariates"] = _("Choose the site covariates to balance.")
        missing = [
            f"{code}:{name}"
            for code in sites
            for name in scheme.constraint_covariates
            if name not in scheme.site_covariates.get(code, {})
        ]
        if missing:
            problems["site_covariates"] = _("Missing site covariate values: %(items)s.") % {
                "items": ", ".join(missing[:10])
            }
    return problems


def strata(scheme: Scheme) -> list[str]:
    """Every stratum the scheme can meet, from the sites and the factors' levels."""
    factors = scheme.strata_factors
    if not factors:
        return ["all"]
    levels: dict[str, list[str]] = {}
    covariates = {c.key: c for c in scheme.trial.covariates.all()}
    for factor in factors:
        if factor == "site":
            levels[factor] = list(
                scheme.trial.sites.order_by("code").values_list("code", flat=True)
            )
        elif covariates[factor].kind == CovariateDefinition.Kind.BOOLEAN:
            levels[factor] = ["False", "True"]
        else:
            levels[factor] = [str(value) for value, _label in covariates[factor].choices]
    keys = [{}]  # type: list[dict[str, str]]
    for factor in factors:
        keys = [{**key, factor: level} for key in keys for level in levels[factor]]
    return [engine.stratum_key(factors, key) for key in keys]


def scheme_seed(scheme: Scheme) -> bytes:
    return bytes.fromhex(personal_numbers.decrypt(scheme.seed_encrypted))


def _blocks_per_stratum(scheme: Scheme, n_strata: int) -> int:
    mean_size: float = sum(scheme.block_sizes) / len(scheme.block_sizes)
    expected = scheme.trial.target_size * 1.5 / max(n_strata, 1)
    return max(2, math.ceil(expected / mean_size))


def commitment_payload(scheme: Scheme, lists: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "trial": scheme.trial.code,
        "scheme_version": scheme.version,
        "method": scheme.method,
        "arms": [list(pair) for pair in arm_weights(scheme.trial)],
        "block_sizes": scheme.block_sizes,
        "strata_factors": scheme.strata_factors,
        "minimisation_factors": scheme.minimisation_factors,
        "p_best": str(scheme.p_best),
        "imbalance_measure": scheme.imbalance_measure,
        "site_strata_field": scheme.site_strata_field,
        "site_pairs": scheme.site_pairs,
        "site_covariates": scheme.site_covariates,
        "constraint_covariates": scheme.constraint_covariates,
        "constraint_cutoff": str(scheme.constraint_cutoff),
        "steps": scheme.steps,
        "first_step_on": scheme.first_step_on.isoformat() if scheme.first_step_on else None,
        "step_length_months": scheme.step_length_months,
        "lists": lists,
    }


def commitment_hash(payload: dict[str, Any], seed: bytes) -> str:
    """What the trial publishes: SHA-256 over the scheme, its first lists and the seed."""
    return engine.commitment({**payload, "seed": seed.hex()})


def lock_trial(trial: Trial) -> Trial:
    return Trial.objects.select_for_update().get(pk=trial.pk)


def lock_scheme(scheme: Scheme, *, actor: User | None, demo_seed: bytes | None = None) -> Scheme:
    """Draw the seed, generate the sealed lists, compute the commitment, and freeze the scheme.

    ``demo_seed`` is for synthetic trials only (the demo, whose allocations, and so whose
    reports, are then the same on every machine): no page, API or command passes one, and the
    audit trail says that the seed was given. A real trial's seed comes from the operating
    system's random source and is never chosen."""
    with transaction.atomic():
        scheme = Scheme.objects.select_for_update().select_related("trial").get(pk=scheme.pk)
        if scheme.is_locked:
            raise TrialError(_("This scheme is already locked."))
        lock_trial(scheme.trial)  # no allocation can slip in while the version changes
        earlier = Scheme.objects.locked_for(scheme.trial)
        if earlier is not None and earlier.allocations.exists():
            raise TrialError(
                _(
                    "Participants have been randomised with version %(version)s, so it can no "
                    "longer be replaced."
                )
                % {"version": earlier.version}
            )
        problems = scheme_problems(scheme)
        if problems:
            raise TrialError(next(iter(problems.values())), field=next(iter(problems)))
        before = audit.snapshot(scheme)
        seed = secrets.token_bytes(32) if demo_seed is None else demo_seed
        lists: dict[str, list[str]] = {}
        count = 0
        if scheme.method == Scheme.Method.BLOCKS:
            arms = {arm.code: arm for arm in scheme.trial.arms.all()}
            keys = strata(scheme)
            count = _blocks_per_stratum(scheme, len(keys))
            slots = []
            for key in keys:
                made = engine.blocks(
                    seed, key, arm_weights(scheme.trial), scheme.block_sizes, count=count
                )
                lists[key] = [code for block in made for code in block.arms]
                slots.extend(block_slots(scheme, key, made, arms, start_position=1))
            BlockSlot.objects.bulk_create(slots, batch_size=2000)
        payload = commitment_payload(scheme, lists)
        scheme.seed_encrypted = personal_numbers.encrypt(seed.hex())
        scheme.commitment = {key: value for key, value in payload.items() if key != "lists"}
        scheme.commitment["initial_blocks"] = count if lists else 0
        scheme.commitment_hash = commitment_hash(payload, seed)
        scheme.status = Scheme.Status.LOCKED
        scheme.locked_at = timezone.now()
        scheme.locked_by = actor
        scheme.save()
        audit.record(
            "scheme.locked",
            scheme,
            actor=actor,
            trial=scheme.trial,
            data={
                "changes": audit.changes(before, audit.snapshot(scheme)),
                **({"seed": "given for a synthetic (demo) trial"} if demo_seed else {}),
            },
        )
    return scheme


def block_slots(
    scheme: Scheme,
    stratum: str,
    made: Iterable[engine.Block],
    arms: dict[str, Arm],
    *,
    start_position: int,
) -> list[BlockSlot]:
    slots = []
    position = start_position
    for block in made:
        for code in block.arms:
            slots.append(
                BlockSlot(
                    scheme=scheme,
                    stratum=stratum,
                    position=position,
                    block_number=block.number,
                    block_size=block.size,
                    arm=arms[code],
                )
            )
            position += 1
    return slots


def revealed_commitment(scheme: Scheme) -> dict[str, Any]:
    """Everything the commitment hash covers, the seed included: published after the trial so
    that anyone can recompute ``sha256(canonical JSON)`` and compare it with the hash that was
    published before the first allocation."""
    if not scheme.is_locked:
        raise TrialError(_("Only a locked scheme has a commitment."))
    seed = scheme_seed(scheme)
    committed = {k: v for k, v in scheme.commitment.items() if k != "initial_blocks"}
    weights = [(code, weight) for code, weight in committed.get("arms", [])]
    lists: dict[str, list[str]] = {}
    if scheme.method == Scheme.Method.BLOCKS:
        count = scheme.commitment.get("initial_blocks", 0)
        for stratum in strata(scheme):
            made = engine.blocks(seed, stratum, weights, scheme.block_sizes, count=count)
            lists[stratum] = [code for block in made for code in block.arms]
    return {**committed, "lists": lists, "seed": seed.hex()}
