"""Locking schemes, allocating, and proving afterwards that nothing was changed.

Every allocation of a trial is appended under a row lock on the trial, so allocations are
strictly ordered: each takes the next sequence number, the next unused slot of its stratum and
the hash of the allocation before it. A retried request with the same idempotency key gets the
allocation it already has. Nothing is written unless everything is (one transaction).
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import math
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from randomisation import chain, engine
from randomisation.chain import ChainUnavailable, Head
from randomisation.models import (
    Allocation,
    AllocationFlag,
    BlockSlot,
    ChainAnchor,
    FactorCount,
    Scheme,
    Unblinding,
)
from trial import audit, personal_numbers
from trial.models import (
    Arm,
    CovariateDefinition,
    Membership,
    Participant,
    ScreeningRecord,
    Site,
    Trial,
)
from trial.services import TrialError, add_months, generate_visits

GENESIS = "0" * 64
EMPTY_HEAD = Head(0, GENESIS, "")
log = logging.getLogger(__name__)
STRATUM_FACTOR_KINDS = {CovariateDefinition.Kind.CHOICE, CovariateDefinition.Kind.BOOLEAN}


# --- schemes -----------------------------------------------------------------------------


def current_scheme(trial: Trial) -> Scheme | None:
    """The newest scheme version of the trial (locked or draft)."""
    return trial.schemes.order_by("-version").first()


def locked_scheme(trial: Trial) -> Scheme | None:
    """The trial's newest locked scheme version (written out: every randomisation reads it)."""
    found = Scheme.objects.raw(
        "SELECT * FROM randomisation_scheme WHERE trial_id = %s AND status = %s"
        " ORDER BY version DESC LIMIT 1",
        [trial.pk, Scheme.Status.LOCKED],
    )
    scheme = next(iter(found), None)
    if scheme is not None:
        scheme.trial = trial
    return scheme


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


def _seed(scheme: Scheme) -> bytes:
    return bytes.fromhex(personal_numbers.decrypt(scheme.seed_encrypted))


def _blocks_per_stratum(scheme: Scheme, n_strata: int) -> int:
    mean_size: float = sum(scheme.block_sizes) / len(scheme.block_sizes)
    expected = scheme.trial.target_size * 1.5 / max(n_strata, 1)
    return max(2, math.ceil(expected / mean_size))


def _commitment_payload(scheme: Scheme, lists: dict[str, list[str]]) -> dict[str, Any]:
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


def lock_scheme(scheme: Scheme, *, actor: User | None) -> Scheme:
    """Draw the seed, generate the sealed lists, compute the commitment, and freeze the scheme."""
    with transaction.atomic():
        scheme = Scheme.objects.select_for_update().select_related("trial").get(pk=scheme.pk)
        if scheme.is_locked:
            raise TrialError(_("This scheme is already locked."))
        _lock_trial(scheme.trial)  # no allocation can slip in while the version changes
        earlier = locked_scheme(scheme.trial)
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
        seed = secrets.token_bytes(32)
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
                slots.extend(_slots(scheme, key, made, arms, start_position=1))
            BlockSlot.objects.bulk_create(slots, batch_size=2000)
        payload = _commitment_payload(scheme, lists)
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
            data={"changes": audit.changes(before, audit.snapshot(scheme))},
        )
    return scheme


def _slots(
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


# --- allocation --------------------------------------------------------------------------


def allocation_payload(allocation: Allocation) -> dict[str, Any]:
    """The content an allocation's hash covers."""
    return {
        "trial": allocation.trial.code,
        "sequence": allocation.sequence,
        "scheme": allocation.scheme.version if allocation.scheme else None,
        "unit": allocation.unit,
        "stratum": allocation.stratum,
        "arm": allocation.arm.code,
        "slot": allocation.slot_position,
        "details": allocation.details,
        "allocated_on": allocation.allocated_on.isoformat(),
        "created_at": allocation.created_at.isoformat(),
        "by": allocation.allocated_by_name,
        "source": allocation.source,
        "reference": allocation.reference,
        "reason": allocation.reason,
        "previous": allocation.previous_hash,
    }


def _chain_head(trial: Trial) -> Head:
    """The last link's sequence number, hash and key fingerprint (0 and the genesis hash for an
    empty chain)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sequence, hash, mac_key FROM randomisation_allocation WHERE trial_id = %s "
            "ORDER BY sequence DESC LIMIT 1",
            [trial.pk],
        )
        row = cursor.fetchone()
    return Head(*row) if row else EMPTY_HEAD


def _append(
    trial: Trial,
    *,
    actor: User | None,
    head: Head | None = None,
    **fields: Any,
) -> Allocation:
    """Add the next link of the trial's chain, signed with the chain key, and witness it. The
    caller holds the trial's row lock and is inside a transaction.

    Raises ChainUnavailable (nothing is written) when no chain key is configured, when the
    head was signed with a key that is not configured, or when the witness file cannot be
    written. A head from before the chain key existed is anchored first (once per trial).
    """
    head = head or _chain_head(trial)
    key = chain.signing_key()
    chain.check_head(head, key)
    if head.sequence and not head.key and not _anchored(trial, head):
        _anchor_unsigned_head(trial, head, key, actor)
    allocation = Allocation(
        trial=trial,
        sequence=head.sequence + 1,
        previous_hash=head.hash,
        created_at=timezone.now(),
        allocated_by=actor,
        allocated_by_name=actor.get_username() if actor else "system",
        **fields,
    )
    allocation.hash = engine.commitment(allocation_payload(allocation))
    allocation.mac = chain.mac(key, allocation.hash)
    allocation.mac_key = key.fingerprint
    allocation.save(force_insert=True)
    # Before the commit, so that an unwritable witness refuses the allocation; binding only
    # once the commit line follows (a rolled-back allocation never gets one).
    chain.write_witness(trial.code, "intent", allocation.sequence, allocation.hash)
    transaction.on_commit(
        partial(chain.write_committed, trial.code, allocation.sequence, allocation.hash),
        robust=True,
    )
    return allocation


def sign_allocation(allocation: Allocation) -> None:
    """Set the hash and the MAC of an allocation built outside :func:`_append` whose
    ``previous_hash`` is set (bulk writers such as the benchmarks). Raises ChainUnavailable
    without a chain key."""
    key = chain.signing_key()
    allocation.hash = engine.commitment(allocation_payload(allocation))
    allocation.mac = chain.mac(key, allocation.hash)
    allocation.mac_key = key.fingerprint


def _anchor_unsigned_head(
    trial: Trial, head: Head, key: chain.ChainKey, actor: User | None
) -> ChainAnchor:
    """Anchor a chain made before the chain key existed, at its head: once per trial, at the
    first allocation after the upgrade. An unsigned head of a chain that was signed before (an
    anchor exists, or the witness saw signed allocations or a longer log) is refused instead:
    someone changed the log behind the application's back."""
    if ChainAnchor.objects.filter(trial=trial).exists() or _witness_saw_more(trial, head):
        raise ChainUnavailable(
            _(
                "Allocation #%(sequence)s, the last in the log, is not signed although the "
                "log was signed before: it may have been changed behind the application's "
                "back, so no allocation is made. Run verify_allocations."
            )
            % {"sequence": head.sequence}
        )
    return _make_anchor(trial, head, key, actor, ChainAnchor.Reason.UPGRADE)


def _anchored(trial: Trial, head: Head) -> bool:
    """Whether a valid anchor vouches for exactly this head (made by the command)."""
    by_fingerprint = chain.keys_by_fingerprint()
    for anchor in ChainAnchor.objects.filter(trial=trial, sequence=head.sequence, head=head.hash):
        key = by_fingerprint.get(anchor.key)
        if key is not None and hmac.compare_digest(
            chain.anchor_mac(key, trial.code, anchor.sequence, anchor.head, anchor.created_at),
            anchor.mac,
        ):
            return True
    return False


def _witness_saw_more(trial: Trial, head: Head) -> bool:
    if not chain.witness_path(trial.code).exists():
        return False
    reading = chain.read_witness(trial.code)
    return any(
        point.kind == "commit" or point.sequence > head.sequence for point in reading.checkpoints
    )


def _make_anchor(
    trial: Trial,
    head: Head,
    key: chain.ChainKey,
    actor: User | None,
    reason: str,
    extra: dict[str, Any] | None = None,
) -> ChainAnchor:
    now = timezone.now()
    anchor = ChainAnchor.objects.create(
        trial=trial,
        sequence=head.sequence,
        head=head.hash,
        reason=reason,
        key=key.fingerprint,
        mac=chain.anchor_mac(key, trial.code, head.sequence, head.hash, now),
        created_at=now,
        created_by_name=actor.get_username() if actor else "system",
    )
    audit.record(
        "allocation_log.anchored",
        anchor,
        actor=actor,
        trial=trial,
        data={"sequence": head.sequence, "reason": reason, "key": key.fingerprint, **(extra or {})},
    )
    chain.write_witness(trial.code, "anchor", head.sequence, head.hash)
    return anchor


def anchor_chain(
    trial: Trial, *, actor: User | None, new_witness: bool = False
) -> ChainAnchor | None:
    """Anchor the trial's chain at its head under the signing key (the first of
    ALLOCATION_CHAIN_KEYS): after an upgrade, or after a new key was put first.

    With ``new_witness`` (after the database was restored from a backup older than the
    witness, once the lost allocations are dealt with) the witness file is renamed, kept as
    evidence, and a new one starts with this anchor; the log is then verified without it.

    The log is verified first, under the trial's lock, so that an anchor never vouches for a
    changed log. Returns None (nothing to do) for an empty log or one whose allocations are
    all signed with the signing key or anchored under it. Raises TrialError naming the first
    problem, ChainUnavailable if the key or witness is not usable. Safe to repeat.
    """
    key = chain.signing_key()
    with transaction.atomic():
        trial = _lock_trial(trial)
        head = _chain_head(trial)
        if head.sequence == 0:
            return None
        chain.check_head(head, key)
        if not new_witness:
            latest = ChainAnchor.objects.filter(trial=trial).order_by("-sequence").first()
            unsigned = Allocation.objects.filter(trial=trial).exclude(mac_key=key.fingerprint)
            covered = latest.sequence if latest is not None and latest.key == key.fingerprint else 0
            if not unsigned.filter(sequence__gt=covered).exists():
                return None
        result = verify(trial, witness=not new_witness)
        if not result.ok and not _only_unanchored(result):
            raise TrialError(
                _("The log does not verify, so it is not anchored: %(problem)s")
                % {"problem": result.problems[0]}
            )
        extra = {}
        if new_witness:
            reason = ChainAnchor.Reason.NEW_WITNESS
            extra["replaced_witness"] = chain.retire_witness(trial.code)
        elif head.key:
            reason = ChainAnchor.Reason.ROTATION
        else:
            reason = ChainAnchor.Reason.UPGRADE
        return _make_anchor(trial, head, key, actor, reason, extra)


def _lock_trial(trial: Trial) -> Trial:
    return Trial.objects.select_for_update().get(pk=trial.pk)


def check_can_randomise(participant: Participant) -> None:
    """Refuse, with the reason, a participant who may not be randomised.

    Uses the ``has_allocation`` and ``screening_refused`` annotations of
    :func:`_participant_for_update` when present, else asks the database.
    """
    trial = participant.trial
    has_allocation = getattr(participant, "has_allocation", None)
    if has_allocation is None:
        has_allocation = Allocation.objects.filter(participant=participant).exists()
    if has_allocation:
        existing = Allocation.objects.get(participant=participant)
        raise TrialError(
            _("%(study_id)s was already randomised on %(date)s (allocation #%(sequence)s).")
            % {
                "study_id": participant.study_id,
                "date": existing.allocated_on.isoformat(),
                "sequence": existing.sequence,
            }
        )
    if trial.status != Trial.Status.RECRUITING:
        raise TrialError(
            _("The trial is not recruiting (status: %(status)s).")
            % {"status": trial.get_status_display()}
        )
    if participant.status != Participant.Status.ACTIVE:
        raise TrialError(
            _("%(study_id)s cannot be randomised: their status is %(status)s.")
            % {"study_id": participant.study_id, "status": participant.get_status_display()}
        )
    if not participant.consent_date or not participant.consent_version:
        raise TrialError(
            _("%(study_id)s has no recorded consent.") % {"study_id": participant.study_id}
        )
    refused = getattr(participant, "screening_refused", None)
    if refused is None:
        refused = _refused_screenings(participant.pk).exists()
    if refused:
        raise TrialError(
            _("%(study_id)s was not eligible, or declined, at screening.")
            % {"study_id": participant.study_id}
        )


def _refused_screenings(participant_id: Any) -> QuerySet[ScreeningRecord]:
    return ScreeningRecord.objects.filter(participant=participant_id).filter(
        Q(eligible=False) | Q(declined=True)
    )


# The participant's row with what the checks need, in one statement written out: this runs for
# every randomisation, and building it with the ORM cost several times the query.
_PARTICIPANT_CHECKS = (
    "SELECT p.*, t.status AS trial_status,"
    " EXISTS (SELECT 1 FROM randomisation_allocation a WHERE a.participant_id = p.id)"
    " AS has_allocation,"
    " EXISTS (SELECT 1 FROM trial_screeningrecord r"
    " WHERE r.participant_id = p.id AND (NOT r.eligible OR r.declined)) AS screening_refused,"
    " (SELECT a.participant_id FROM randomisation_allocation a"
    " WHERE a.trial_id = p.trial_id AND a.idempotency_key = %s) AS keyed_to"
    " FROM trial_participant p JOIN trial_trial t ON t.id = p.trial_id WHERE p.id = %s"
)


def _participant_for_update(participant: Participant, key: str | None = None) -> Participant:
    """The participant's row, locked, with what the eligibility check needs.

    Annotated with ``has_allocation``, ``screening_refused`` and ``keyed_to`` (the participant
    an allocation with idempotency key ``key`` belongs to, if any). The trial and site are the
    caller's objects, the trial's status read afresh.
    """
    if connection.features.has_select_for_update:
        # The lock first, on its own: a statement's snapshot is taken before it waits for a
        # lock, so reading in the same statement could miss what the holder committed.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM trial_participant WHERE id = %s FOR UPDATE", [participant.pk]
            )
    locked = next(iter(Participant.objects.raw(_PARTICIPANT_CHECKS, [key, participant.pk])))
    trial = participant.trial
    trial.status = locked.trial_status  # type: ignore[attr-defined]  # a column of the raw query
    locked.trial = trial
    if locked.site_id == participant.site_id:
        locked.site = participant.site
    return locked


def factor_levels(scheme: Scheme, participant: Participant) -> dict[str, str]:
    """The participant's level of every factor the scheme uses; refuses a missing one."""
    factors = list(scheme.strata_factors)
    factors += [item["factor"] for item in scheme.minimisation_factors]
    levels: dict[str, str] = {}
    for factor in dict.fromkeys(factors):
        if factor == "site":
            levels[factor] = participant.site.code
            continue
        value = participant.baseline.get(factor)
        if value is None or value == "":
            raise TrialError(
                _(
                    "The factor %(factor)s is missing for %(study_id)s: record it in the "
                    "baseline data before randomising."
                )
                % {"factor": factor, "study_id": participant.study_id},
                field=factor,
            )
        levels[factor] = str(value)
    return levels


@dataclass
class Outcome:
    allocation: Allocation
    created: bool


def randomise(
    participant: Participant,
    *,
    actor: User | None,
    idempotency_key: str | None = None,
    on: dt.date | None = None,
) -> Outcome:
    """Allocate one participant by the trial's locked scheme and schedule their visits.

    Everything that does not depend on the arm (the checks, the visit schedule) happens before
    the trial's lock is taken, so the lock is held for a handful of short statements only.
    """
    trial = participant.trial
    on = on or timezone.localdate()
    scheme = locked_scheme(trial)
    try:
        with transaction.atomic():
            locked = _participant_for_update(participant, idempotency_key)
            if idempotency_key and locked.keyed_to is not None:  # type: ignore[attr-defined]  # raw query column
                return Outcome(_replay(trial, idempotency_key, locked), created=False)
            check_can_randomise(locked)
            if scheme is None:
                raise TrialError(_("The trial has no locked randomisation scheme."))
            levels = {} if scheme.is_cluster else factor_levels(scheme, locked)
            before = audit.snapshot(locked)
            locked.randomised_on = on
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE trial_participant SET randomised_on = %s WHERE id = %s",
                    [on, locked.pk],
                )
            generate_visits(locked, randomised_on=on)
            head = _hold_trial(trial, scheme)
            if scheme.is_cluster:
                allocation = _allocate_cluster_member(
                    scheme, locked, on, actor, idempotency_key, head
                )
            else:
                allocation = _allocate_individual(
                    scheme, locked, levels, on, actor, idempotency_key, head
                )
            _record_randomised(locked, allocation, before, actor)
    except IntegrityError as error:
        # The unique constraints are the last line: a key reused for another participant.
        if (
            idempotency_key
            and Allocation.objects.filter(trial=trial, idempotency_key=idempotency_key).exists()
        ):
            raise TrialError(
                _("This idempotency key was used for another participant."),
                field="idempotency_key",
            ) from error
        raise
    participant.randomised_on = on
    return Outcome(allocation, created=True)


def _hold_trial(trial: Trial, scheme: Scheme) -> Head:
    """Take the trial's row lock, check ``scheme`` is still its locked scheme, and return the
    chain's head (sequence, hash and key fingerprint of the last allocation).

    Two short statements written out, as they run under the lock every allocation of the trial
    waits for. The head is read by a statement of its own, after the lock is granted, so it
    sees every allocation committed before.
    """
    lock = "SELECT id FROM trial_trial WHERE id = %s"
    if connection.features.has_select_for_update:
        lock += " FOR UPDATE"
    with connection.cursor() as cursor:
        cursor.execute(lock, [trial.pk])
        cursor.execute(
            "SELECT (SELECT id FROM randomisation_scheme WHERE trial_id = %s AND status = %s"
            " ORDER BY version DESC LIMIT 1), (SELECT sequence FROM randomisation_allocation"
            " WHERE trial_id = %s ORDER BY sequence DESC LIMIT 1), (SELECT hash FROM"
            " randomisation_allocation WHERE trial_id = %s ORDER BY sequence DESC LIMIT 1),"
            " (SELECT mac_key FROM randomisation_allocation WHERE trial_id = %s"
            " ORDER BY sequence DESC LIMIT 1)",
            [trial.pk, Scheme.Status.LOCKED, trial.pk, trial.pk, trial.pk],
        )
        scheme_id, sequence, last_hash, key = cursor.fetchone()
    if scheme_id != scheme.pk:
        raise TrialError(_("The randomisation scheme changed meanwhile; try again."))
    return Head(sequence, last_hash, key) if sequence is not None else EMPTY_HEAD


def _replay(trial: Trial, key: str, participant: Participant) -> Allocation:
    """The allocation an earlier request with idempotency key ``key`` made; refused if the key
    was used for another participant (``keyed_to`` from :func:`_participant_for_update`)."""
    if participant.keyed_to != participant.pk:  # type: ignore[attr-defined]  # raw query column
        raise TrialError(
            _("This idempotency key was used for another participant."), field="idempotency_key"
        )
    return Allocation.objects.get(trial=trial, idempotency_key=key)


@dataclass(frozen=True)
class _SchemeKeys:
    seed: bytes
    arms: dict[str, Arm]
    weights: list[tuple[str, int]]


# Keyed by the scheme's id *and* its encrypted seed: SQLite (the embedded default) gives a rolled
# back row's id to the next row, so an id alone could name another scheme, with another seed
# and arms, than the one cached. The encrypted seed is drawn afresh (a random seed under a random
# Fernet IV) whenever a scheme is locked, so no other scheme row carries it.
_scheme_keys: dict[tuple[int, str], _SchemeKeys] = {}


def _keys(scheme: Scheme) -> _SchemeKeys:
    """The seed and arms of a locked scheme, kept per process: neither changes once locked
    (arms are frozen when the trial starts recruiting), and decrypting costs time under the
    lock."""
    cache_key = (scheme.pk, scheme.seed_encrypted)
    keys = _scheme_keys.get(cache_key)
    if keys is None:
        arms = {arm.code: arm for arm in scheme.trial.arms.all()}
        weights = [(code, arms[code].allocation_weight) for code in sorted(arms)]
        keys = _SchemeKeys(_seed(scheme), arms, weights)
        if len(_scheme_keys) > 100:
            _scheme_keys.clear()
        _scheme_keys[cache_key] = keys
    return keys


def _allocate_individual(
    scheme: Scheme,
    participant: Participant,
    levels: dict[str, str],
    on: dt.date,
    actor: User | None,
    key: str | None,
    head: Head,
) -> Allocation:
    keys = _keys(scheme)
    sequence = head[0] + 1
    details: dict[str, Any] = {"factors": levels}
    slot_position = None
    stratum = engine.stratum_key(scheme.strata_factors, levels)
    if scheme.method == Scheme.Method.SIMPLE:
        code = engine.simple(keys.seed, sequence, keys.weights)
    elif scheme.method == Scheme.Method.BLOCKS:
        slot_position, block_number, code = _take_slot(scheme, stratum, keys)
        details["block"] = block_number
    else:
        counts = _minimisation_counts(scheme, levels)
        result = engine.minimise(
            keys.seed,
            sequence,
            keys.weights,
            counts,
            {item["factor"]: float(item["weight"]) for item in scheme.minimisation_factors},
            p_best=float(scheme.p_best),
            measure=scheme.imbalance_measure,  # type: ignore[arg-type]  # a Scheme.Measure value
        )
        code = result.arm
        details.update(
            counts=counts,
            scores=result.scores,
            preferred=result.preferred,
            random_element_used=result.random_element_used,
        )
    allocation = _append(
        scheme.trial,
        actor=actor,
        head=head,
        scheme=scheme,
        participant=participant,
        stratum=stratum,
        arm=keys.arms[code],
        slot_position=slot_position,
        details=details,
        allocated_on=on,
        source=Allocation.Source.SYSTEM,
        idempotency_key=key,
    )
    if scheme.method == Scheme.Method.MINIMISATION:
        _count(scheme, levels, keys.arms[code])
    return allocation


def _take_slot(scheme: Scheme, stratum: str, keys: _SchemeKeys) -> tuple[int, int, str]:
    """Mark the stratum's first unused slot used, in one statement; extend the list by one
    block (from the seed) if it has run out. Returns position, block number and arm code."""
    sql = (
        "UPDATE randomisation_blockslot SET used = true WHERE id = ("
        " SELECT id FROM randomisation_blockslot"
        " WHERE scheme_id = %s AND stratum = %s AND NOT used ORDER BY position LIMIT 1"
        ") RETURNING position, block_number, arm_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [scheme.pk, stratum])
        row = cursor.fetchone()
        if row is None:
            _extend(scheme, stratum, keys)
            cursor.execute(sql, [scheme.pk, stratum])
            row = cursor.fetchone()
    code = next(code for code, arm in keys.arms.items() if arm.pk == row[2])
    return row[0], row[1], code


def _extend(scheme: Scheme, stratum: str, keys: _SchemeKeys) -> None:
    last = BlockSlot.objects.filter(scheme=scheme, stratum=stratum).order_by("-position").first()
    number = last.block_number + 1 if last else 1
    position = last.position + 1 if last else 1
    made = engine.blocks(
        keys.seed, stratum, keys.weights, scheme.block_sizes, start=number, count=1
    )
    new = _slots(scheme, stratum, made, keys.arms, start_position=position)
    BlockSlot.objects.bulk_create(new)
    audit.record(
        "scheme.list_extended",
        scheme,
        actor=None,
        trial=scheme.trial,
        data={"stratum": stratum, "block": number, "slots": len(new)},
    )


def _minimisation_counts(scheme: Scheme, levels: dict[str, str]) -> dict[str, dict[str, int]]:
    """Earlier allocations by arm sharing each of the new participant's factor levels.

    Read from the running totals in ``FactorCount`` (one indexed query, whatever the number of
    earlier allocations). The totals are kept under the trial's lock and rechecked against the
    allocations' own ``details.factors`` by :func:`verify`.
    """
    factors = [item["factor"] for item in scheme.minimisation_factors]
    counts: dict[str, dict[str, int]] = {factor: {} for factor in factors}
    wanted = " OR ".join(["(factor = %s AND level = %s)"] * len(factors))
    codes = {arm.pk: code for code, arm in _keys(scheme).arms.items()}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT factor, arm_id, count FROM randomisation_factorcount"  # noqa: S608
            f" WHERE scheme_id = %s AND ({wanted})",  # only placeholders are joined in
            [scheme.pk, *(value for factor in factors for value in (factor, levels[factor]))],
        )
        for factor, arm_id, n in cursor.fetchall():
            counts[factor][codes[arm_id]] = n
    return counts


def _count(scheme: Scheme, levels: dict[str, str], arm: Arm) -> None:
    """Add one allocation to the running totals, in one statement."""
    factors = [item["factor"] for item in scheme.minimisation_factors]
    if connection.vendor != "postgresql":  # the embedded default (SQLite)
        for factor in factors:
            row, _created = FactorCount.objects.get_or_create(
                scheme=scheme, factor=factor, level=levels[factor], arm=arm
            )
            FactorCount.objects.filter(pk=row.pk).update(count=F("count") + 1)
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO randomisation_factorcount (scheme_id, factor, level, arm_id, count) "
            "SELECT %s, f.factor, f.level, %s, 1 "
            "FROM unnest(%s::varchar[], %s::varchar[]) AS f(factor, level) "
            "ON CONFLICT (scheme_id, factor, level, arm_id) "
            "DO UPDATE SET count = randomisation_factorcount.count + 1",
            [scheme.pk, arm.pk, factors, [levels[factor] for factor in factors]],
        )


def _allocate_cluster_member(
    scheme: Scheme,
    participant: Participant,
    on: dt.date,
    actor: User | None,
    key: str | None,
    head: Head,
) -> Allocation:
    site_allocation = (
        Allocation.objects.filter(trial=scheme.trial, site=participant.site, participant=None)
        .select_related("arm")
        .first()
    )
    if site_allocation is None:
        raise TrialError(
            _("Site %(site)s has not been randomised yet: randomise the sites first.")
            % {"site": participant.site.code}
        )
    arm = site_allocation.arm
    details: dict[str, Any] = {"site_allocation": site_allocation.sequence}
    if scheme.method == Scheme.Method.STEPPED_WEDGE:
        crossover = dt.date.fromisoformat(site_allocation.details["crossover_on"])
        intervention = on >= crossover
        arms = list(scheme.trial.arms.all())
        arm = next(a for a in arms if a.is_control != intervention)
        details["crossover_on"] = crossover.isoformat()
    return _append(
        scheme.trial,
        actor=actor,
        head=head,
        scheme=scheme,
        participant=participant,
        stratum=f"site={participant.site.code}",
        arm=arm,
        details=details,
        allocated_on=on,
        source=Allocation.Source.CLUSTER,
        idempotency_key=key,
    )


def _record_randomised(
    participant: Participant,
    allocation: Allocation,
    before: dict[str, Any],
    actor: User | None,
) -> None:
    audit.record(
        "participant.randomised",
        participant,
        actor=actor,
        data={
            "sequence": allocation.sequence,
            "arm": allocation.arm.code,
            "source": allocation.source,
            "changes": audit.changes(before, audit.snapshot(participant)),
        },
    )


def _after_allocation(participant: Participant, allocation: Allocation, actor: User | None) -> None:
    before = audit.snapshot(participant)
    participant.randomised_on = allocation.allocated_on
    participant.save(update_fields=["randomised_on"])
    generate_visits(participant, randomised_on=allocation.allocated_on)
    _record_randomised(participant, allocation, before, actor)


def record_manual(
    participant: Participant,
    *,
    arm: Arm,
    on: dt.date,
    reference: str,
    reason: str,
    actor: User | None,
    source: str = Allocation.Source.MANUAL,
) -> Allocation:
    """Enter an allocation made outside the system (sealed envelope, or an earlier system)."""
    if arm.trial_id != participant.trial_id:
        raise TrialError(_("That arm belongs to another trial."), field="arm")
    if source == Allocation.Source.MANUAL and not reference.strip():
        raise TrialError(_("Give the envelope or list reference."), field="reference")
    if source == Allocation.Source.MANUAL and not reason.strip():
        raise TrialError(_("Say why the system was not used."), field="reason")
    if on > timezone.localdate():
        raise TrialError(_("The date cannot be in the future."), field="on")
    if on < participant.enrolled_on:
        raise TrialError(_("The date cannot be before enrolment."), field="on")
    with transaction.atomic():
        # Participant first, then the trial: the same order as randomise(), so no deadlock.
        locked = _participant_for_update(participant)
        trial = _lock_trial(participant.trial)
        locked.trial = trial
        if source == Allocation.Source.MANUAL:
            check_can_randomise(locked)
        elif Allocation.objects.filter(participant=locked).exists():
            raise TrialError(
                _("%(study_id)s already has an allocation.") % {"study_id": locked.study_id}
            )
        allocation = _append(
            trial,
            actor=actor,
            scheme=locked_scheme(trial) if source == Allocation.Source.MANUAL else None,
            participant=locked,
            stratum="",
            arm=arm,
            allocated_on=on,
            source=source,
            reference=reference.strip(),
            reason=reason.strip(),
        )
        _after_allocation(locked, allocation, actor)
    participant.randomised_on = on
    return allocation


def flag_in_error(allocation: Allocation, *, reason: str, actor: User | None) -> AllocationFlag:
    """Record that a participant was randomised in error. The allocation stays (ITT)."""
    if not reason.strip():
        raise TrialError(_("Give the reason."), field="reason")
    with transaction.atomic():
        if allocation.flags.filter(kind=AllocationFlag.Kind.IN_ERROR).exists():
            raise TrialError(_("This allocation is already marked as made in error."))
        flag = AllocationFlag.objects.create(
            allocation=allocation,
            kind=AllocationFlag.Kind.IN_ERROR,
            reason=reason.strip(),
            flagged_by=actor,
            flagged_by_name=actor.get_username() if actor else "system",
        )
        audit.record(
            "allocation.flagged_in_error",
            allocation,
            actor=actor,
            trial=allocation.trial,
            data={"sequence": allocation.sequence, "reason": flag.reason},
        )
    return flag


def unblind(allocation: Allocation, *, reason: str, actor: User) -> Unblinding:
    """Emergency unblinding of one participant: logged, and the coordinators are told."""
    if not reason.strip():
        raise TrialError(_("Give the reason for unblinding."), field="reason")
    with transaction.atomic():
        record = Unblinding.objects.create(
            allocation=allocation,
            reason=reason.strip(),
            unblinded_by=actor,
            unblinded_by_name=actor.get_username(),
        )
        audit.record(
            "allocation.unblinded",
            allocation,
            actor=actor,
            trial=allocation.trial,
            data={"sequence": allocation.sequence, "reason": record.reason},
        )
        transaction.on_commit(lambda: _notify_unblinding(record))
    return record


def _notify_unblinding(record: Unblinding) -> None:
    allocation = record.allocation
    emails = list(
        Membership.objects.filter(trial=allocation.trial, role=Membership.Role.COORDINATOR)
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )
    if not emails:
        return
    subject = _("Emergency unblinding in %(trial)s") % {"trial": allocation.trial.code}
    body = _(
        "%(user)s unblinded participant %(study_id)s (allocation #%(sequence)s) at %(time)s.\n"
        "Reason: %(reason)s\n"
    ) % {
        "user": record.unblinded_by_name,
        "study_id": allocation.participant.study_id if allocation.participant else "-",
        "sequence": allocation.sequence,
        "time": timezone.localtime(record.created_at).strftime("%Y-%m-%d %H:%M"),
        "reason": record.reason,
    }
    body += checkpoint_text(allocation.trial)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, emails, fail_silently=True)


def checkpoint_text(trial: Trial) -> str:
    """The latest witness checkpoint as a paragraph for coordinators' e-mails, so that a copy
    is kept outside the system ("" when there is none)."""
    point = chain.latest_checkpoint(trial.code)
    if point is None:
        return ""
    return "\n" + _(
        "Allocation log checkpoint, to keep outside the system: #%(sequence)s, head "
        "%(head)s, %(time)s. The allocation log must show this head for allocation "
        "#%(sequence)s as long as the trial lasts.\n"
    ) % {
        "sequence": point.sequence,
        "head": point.short_head,
        "time": timezone.localtime(point.at).strftime("%Y-%m-%d %H:%M"),
    }


# --- verification ------------------------------------------------------------------------


@dataclass
class Verification:
    checked: int = 0
    problems: list[str] = field(default_factory=list)
    first_broken: int | None = None
    # The first allocation signed with the chain key; the last one an anchor vouches for.
    signed_from: int | None = None
    anchored_to: int = 0
    anchored_on: dt.datetime | None = None
    # The latest binding line of the witness, and what could not be checked (keys removed).
    checkpoint: chain.Checkpoint | None = None
    notes: list[str] = field(default_factory=list)
    # Allocations neither signed with a configured key nor covered by an anchor (a chain from
    # before the key existed, not anchored yet); counted among the problems.
    unanchored: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, sequence: int | None, message: str) -> None:
        if sequence is not None and (self.first_broken is None or sequence < self.first_broken):
            self.first_broken = sequence
        self.problems.append(message)


def verify(trial: Trial, *, witness: bool = True) -> Verification:
    """Recompute the hash chain and check every allocation's MAC under the chain keys, the
    anchors, the witness outside the database, the commitments and the sealed lists.

    The witness and the anchors are read before the allocations: whatever they record was
    committed before, so a log growing meanwhile is never reported as missing allocations.
    """
    result = Verification()
    by_fingerprint = chain.keys_by_fingerprint()
    if not by_fingerprint:
        result.fail(
            None,
            _(
                "ALLOCATION_CHAIN_KEYS is not set: the MACs, anchors and witness of the log "
                "cannot be checked."
            ),
        )
    reading = chain.read_witness(trial.code) if by_fingerprint and witness else None
    anchors = list(ChainAnchor.objects.filter(trial=trial).order_by("sequence", "created_at"))
    expected_previous = GENESIS
    expected_sequence = 1
    slots: dict[tuple[int, str, int], _Slot] = {}
    lists: dict[int, dict[str, list[_Slot]]] = {}  # scheme -> stratum -> slots in order
    for scheme_id, stratum, position, block_number, arm_id, arm_code, used in (
        BlockSlot.objects.filter(scheme__trial=trial)
        .order_by("scheme_id", "stratum", "position")
        .values_list(
            "scheme_id", "stratum", "position", "block_number", "arm_id", "arm__code", "used"
        )
        .iterator(chunk_size=10000)
    ):
        slot = _Slot(stratum, block_number, arm_id, arm_code, used)
        slots[(scheme_id, stratum, position)] = slot
        lists.setdefault(scheme_id, {}).setdefault(stratum, []).append(slot)
    used_positions: set[tuple[int, str, int]] = set()
    hashes: dict[int, str] = {}
    unsigned: list[int] = []
    bad_macs: list[int] = []
    # Plain rows rather than model instances: a log of 100,000 allocations is read in seconds.
    rows = (
        Allocation.objects.filter(trial=trial)
        .order_by("sequence")
        .values_list(*_VERIFY_COLUMNS)
        .iterator(chunk_size=5000)
    )
    for row in rows:
        allocation = _VerifyRow(*row)
        result.checked += 1
        n = allocation.sequence
        hashes[n] = allocation.hash
        if n != expected_sequence:
            result.fail(
                n,
                _("#%(n)s: expected sequence number %(expected)s (a record is missing)")
                % {"n": n, "expected": expected_sequence},
            )
        if allocation.previous_hash != expected_previous:
            result.fail(n, _("#%(n)s: does not point to the record before it") % {"n": n})
        if engine.commitment(_row_payload(trial, allocation)) != allocation.hash:
            result.fail(
                n, _("#%(n)s: content does not match its hash (the record was altered)") % {"n": n}
            )
        if allocation.mac_key:
            if result.signed_from is None:
                result.signed_from = n
            key = by_fingerprint.get(allocation.mac_key)
            if key is None:
                unsigned.append(n)
            elif not hmac.compare_digest(chain.mac(key, allocation.hash), allocation.mac):
                bad_macs.append(n)
        elif result.signed_from is not None:
            result.fail(
                n,
                _("#%(n)s: not signed, although #%(first)s before it is")
                % {"n": n, "first": result.signed_from},
            )
        else:
            unsigned.append(n)
        if allocation.slot_position is not None and allocation.scheme_id is not None:
            key = (allocation.scheme_id, allocation.stratum, allocation.slot_position)
            slot = slots.get(key)
            if slot is None or slot.arm_id != allocation.arm_id or not slot.used:
                result.fail(n, _("#%(n)s: does not match its slot in the sealed list") % {"n": n})
            if key in used_positions:
                result.fail(n, _("#%(n)s: reuses a slot already taken") % {"n": n})
            used_positions.add(key)
        expected_previous = allocation.hash
        expected_sequence = n + 1
    if by_fingerprint:
        _verify_signatures(trial, result, hashes, unsigned, bad_macs, anchors, by_fingerprint)
    if reading is not None:
        _verify_witness(result, hashes, reading)
    for scheme in trial.schemes.filter(status=Scheme.Status.LOCKED):
        _verify_scheme(scheme, lists.get(scheme.pk, {}), result)
        if scheme.method == Scheme.Method.MINIMISATION:
            _verify_counts(scheme, result)
    return result


class _Slot(NamedTuple):
    stratum: str
    block_number: int
    arm_id: int
    arm_code: str
    used: bool


_VERIFY_COLUMNS = (
    "sequence",
    "scheme_id",
    "scheme__version",
    "participant__study_id",
    "site__code",
    "stratum",
    "arm_id",
    "arm__code",
    "slot_position",
    "details",
    "allocated_on",
    "created_at",
    "allocated_by_name",
    "source",
    "reference",
    "reason",
    "previous_hash",
    "hash",
    "mac",
    "mac_key",
)


class _VerifyRow(NamedTuple):
    sequence: int
    scheme_id: int | None
    scheme_version: int | None
    study_id: str | None
    site_code: str | None
    stratum: str
    arm_id: int
    arm_code: str
    slot_position: int | None
    details: dict[str, Any]
    allocated_on: dt.date
    created_at: dt.datetime
    allocated_by_name: str
    source: str
    reference: str
    reason: str
    previous_hash: str
    hash: str
    mac: str
    mac_key: str


def _row_payload(trial: Trial, row: _VerifyRow) -> dict[str, Any]:
    """:func:`allocation_payload` of a row read by :func:`verify` (the same content)."""
    return {
        "trial": trial.code,
        "sequence": row.sequence,
        "scheme": row.scheme_version if row.scheme_id else None,
        "unit": f"participant:{row.study_id}"
        if row.study_id is not None
        else f"site:{row.site_code}",
        "stratum": row.stratum,
        "arm": row.arm_code,
        "slot": row.slot_position,
        "details": row.details,
        "allocated_on": row.allocated_on.isoformat(),
        "created_at": row.created_at.isoformat(),
        "by": row.allocated_by_name,
        "source": row.source,
        "reference": row.reference,
        "reason": row.reason,
        "previous": row.previous_hash,
    }


def _verify_signatures(
    trial: Trial,
    result: Verification,
    hashes: dict[int, str],
    unsigned: list[int],
    bad_macs: list[int],
    anchors: list[ChainAnchor],
    by_fingerprint: dict[str, chain.ChainKey],
) -> None:
    """MACs that do not match, the anchors, and allocations no key or anchor vouches for."""
    if bad_macs:
        message = _(
            "#%(n)s: its MAC does not match: the record, or the chain before it, was changed "
            "without the chain key"
        ) % {"n": bad_macs[0]}
        if len(bad_macs) > 1:
            message += " " + ngettext(
                "(and %(count)s later allocation)",
                "(and %(count)s later allocations)",
                len(bad_macs) - 1,
            ) % {"count": len(bad_macs) - 1}
        result.fail(bad_macs[0], message)
    last = max(hashes, default=0)
    for anchor in anchors:
        key = by_fingerprint.get(anchor.key)
        when = timezone.localtime(anchor.created_at).strftime("%Y-%m-%d %H:%M")
        if key is None:
            result.notes.append(
                _(
                    "The anchor of %(when)s at #%(n)s was made with a key that is no longer "
                    "configured (fingerprint %(key)s); not checked."
                )
                % {"when": when, "n": anchor.sequence, "key": anchor.key}
            )
            continue
        expected = chain.anchor_mac(
            key, trial.code, anchor.sequence, anchor.head, anchor.created_at
        )
        if not hmac.compare_digest(expected, anchor.mac):
            result.fail(
                anchor.sequence,
                _("The anchor at #%(n)s was altered (its MAC does not match)")
                % {"n": anchor.sequence},
            )
        elif anchor.sequence > last:
            result.fail(
                last + 1,
                _("The anchor of %(when)s vouches for #%(n)s, but the log ends at #%(last)s")
                % {"when": when, "n": anchor.sequence, "last": last},
            )
        elif hashes[anchor.sequence] != anchor.head:
            result.fail(
                anchor.sequence,
                _("#%(n)s differs from what its anchor of %(when)s vouches for")
                % {"n": anchor.sequence, "when": when},
            )
        elif anchor.sequence >= result.anchored_to:
            result.anchored_to = anchor.sequence
            result.anchored_on = anchor.created_at
    uncovered = [n for n in unsigned if n > result.anchored_to]
    if uncovered:
        result.unanchored = len(uncovered)
        result.fail(
            uncovered[0],
            ngettext(
                "#%(n)s: neither signed with a configured chain key nor covered by an anchor "
                "(%(count)s allocation; run anchor_allocation_chain after an upgrade)",
                "#%(n)s: neither signed with a configured chain key nor covered by an anchor "
                "(%(count)s allocations; run anchor_allocation_chain after an upgrade)",
                len(uncovered),
            )
            % {"n": uncovered[0], "count": len(uncovered)},
        )


def _verify_witness(
    result: Verification, hashes: dict[int, str], witness: chain.WitnessReading
) -> None:
    """Every binding line of the witness must match the log: the allocation it saw is there,
    with the hash it saw."""
    for problem in witness.problems:
        result.fail(None, problem)
    if witness.unchecked:
        result.notes.append(
            ngettext(
                "%(count)s witness line was signed with a key that is no longer configured; "
                "not checked.",
                "%(count)s witness lines were signed with a key that is no longer configured; "
                "not checked.",
                witness.unchecked,
            )
            % {"count": witness.unchecked}
        )
    if not witness.exists and result.signed_from is not None:
        result.fail(None, _("The witness file of this log is missing."))
    result.checkpoint = witness.latest
    last = max(hashes, default=0)
    differing = [
        point
        for point in witness.checkpoints
        if 0 < point.sequence <= last and hashes.get(point.sequence) != point.head
    ]
    if differing:
        first = min(differing, key=lambda point: (point.sequence, point.line))
        message = _(
            "#%(n)s differs from what the witness saw on %(when)s (line %(line)s): the record, "
            "or the chain before it, was rewritten"
        ) % {
            "n": first.sequence,
            "when": timezone.localtime(first.at).strftime("%Y-%m-%d %H:%M"),
            "line": first.line,
        }
        if len(differing) > 1:
            message += " " + ngettext(
                "(%(count)s more witness line differs)",
                "(%(count)s more witness lines differ)",
                len(differing) - 1,
            ) % {"count": len(differing) - 1}
        result.fail(first.sequence, message)
    seen = max(witness.checkpoints, key=lambda point: point.sequence, default=None)
    if seen is not None and seen.sequence > last:
        missing = seen.sequence - last
        result.fail(
            last + 1,
            ngettext(
                "%(count)s allocation missing after #%(last)s: the witness saw #%(seen)s on "
                "%(when)s (line %(line)s)",
                "%(count)s allocations missing after #%(last)s: the witness saw #%(seen)s on "
                "%(when)s (line %(line)s)",
                missing,
            )
            % {
                "count": missing,
                "last": last,
                "seen": seen.sequence,
                "when": timezone.localtime(seen.at).strftime("%Y-%m-%d %H:%M"),
                "line": seen.line,
            },
        )


def _only_unanchored(result: Verification) -> bool:
    """True if the only problem is a chain from before the key that no anchor covers yet."""
    return bool(result.unanchored) and len(result.problems) == 1


def write_checkpoints() -> int:
    """Write a ``daily`` line to the witness of every trial with allocations: the head of its
    log as the database holds it, fsynced. Safe to repeat (each run adds a line). Returns how
    many were written; a witness that cannot be written is logged and skipped."""
    written = 0
    for trial in Trial.objects.filter(allocations__isnull=False).distinct().order_by("code"):
        head = _chain_head(trial)
        try:
            chain.write_witness(trial.code, "daily", head.sequence, head.hash, sync=True)
        except ChainUnavailable as error:
            log.error("no daily checkpoint for %s: %s", trial.code, error.message)
            continue
        written += 1
    return written


def _verify_counts(scheme: Scheme, result: Verification) -> None:
    """The minimisation totals must equal what the allocations themselves record."""
    factors = [item["factor"] for item in scheme.minimisation_factors]
    expected: dict[tuple[str, str, str], int] = {}
    rows = Allocation.objects.filter(scheme=scheme, participant__isnull=False).values_list(
        "details", "arm__code"
    )
    for details, arm in rows.iterator(chunk_size=5000):
        for factor in factors:
            key = (factor, str(details["factors"][factor]), arm)
            expected[key] = expected.get(key, 0) + 1
    stored = {
        (factor, level, arm): n
        for factor, level, arm, n in FactorCount.objects.filter(scheme=scheme).values_list(
            "factor", "level", "arm__code", "count"
        )
        if n
    }
    if stored != expected:
        result.fail(
            None,
            _("Scheme version %(version)s: the minimisation totals do not match the log")
            % {"version": scheme.version},
        )


def _verify_scheme(
    scheme: Scheme, by_stratum: dict[str, list[_Slot]], result: Verification
) -> None:
    """The scheme's settings, its first lists and its seed must still give the published
    commitment, and every stored slot (``by_stratum``, in position order) must be what the
    seed generates. Each stratum's blocks are generated once for both checks."""
    seed = _seed(scheme)
    committed = {k: v for k, v in scheme.commitment.items() if k != "initial_blocks"}
    current = {k: v for k, v in _commitment_payload(scheme, {}).items() if k != "lists"}
    if committed != current:
        changed = sorted(k for k in current if committed.get(k) != current[k])
        result.fail(
            None,
            _("Scheme version %(version)s: settings changed after locking (%(fields)s)")
            % {"version": scheme.version, "fields": ", ".join(changed)},
        )
    weights = [(code, weight) for code, weight in committed.get("arms", [])]
    initial = scheme.commitment.get("initial_blocks", 0)
    lists: dict[str, list[str]] = {}
    generated: dict[str, list[engine.Block]] = {}
    if scheme.method == Scheme.Method.BLOCKS:
        for stratum in strata(scheme):
            stored = by_stratum.get(stratum)
            count = max(initial, stored[-1].block_number if stored else 0)
            made = engine.blocks(seed, stratum, weights, scheme.block_sizes, count=count)
            generated[stratum] = made
            lists[stratum] = [code for block in made[:initial] for code in block.arms]
    if commitment_hash({**committed, "lists": lists}, seed) != scheme.commitment_hash:
        result.fail(
            None,
            _("Scheme version %(version)s: the commitment hash does not match")
            % {"version": scheme.version},
        )
    for stratum, stratum_slots in by_stratum.items():
        count = stratum_slots[-1].block_number
        made = generated.get(stratum, [])[:count]
        if len(made) < count:  # a stratum the scheme does not define (changed settings)
            made = engine.blocks(seed, stratum, weights, scheme.block_sizes, count=count)
        regenerated = [(block.number, code) for block in made for code in block.arms]
        stored = [(slot.block_number, slot.arm_code) for slot in stratum_slots]
        if regenerated != stored:
            result.fail(
                None,
                _("Scheme version %(version)s: the sealed list of %(stratum)s was changed")
                % {"version": scheme.version, "stratum": stratum},
            )


def arm_counts(trial: Trial) -> dict[str, int]:
    return dict(
        Allocation.objects.filter(trial=trial, participant__isnull=False)
        .values_list("arm__code")
        .annotate(n=Count("id"))
    )


def sites_without_allocation(trial: Trial) -> list[Site]:
    allocated = Allocation.objects.filter(trial=trial, participant=None).values("site_id")
    return list(trial.sites.exclude(pk__in=allocated).order_by("code"))


# --- cluster designs ---------------------------------------------------------------------


def randomise_sites(trial: Trial, *, actor: User | None) -> list[Allocation]:
    """Allocate every site of a cluster trial at once, by the locked scheme.

    Each site gets one allocation record in the chain (for a stepped wedge, its crossover step
    and date); participants randomised later take their site's arm.
    """
    with transaction.atomic():
        trial = _lock_trial(trial)
        scheme = locked_scheme(trial)
        if scheme is None or not scheme.is_cluster:
            raise TrialError(_("The trial has no locked scheme that allocates sites."))
        if Allocation.objects.filter(trial=trial, participant=None).exists():
            raise TrialError(_("The sites have already been randomised."))
        sites = list(trial.sites.order_by("code"))
        seed = _seed(scheme)
        weights = arm_weights(trial)
        arms = {arm.code: arm for arm in trial.arms.all()}
        plan = _cluster_plan(scheme, sites, seed, weights)
        created = []
        for site in sites:
            code, details = plan[site.code]
            created.append(
                _append(
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
    from randomisation.cluster import designs as cluster

    codes = [site.code for site in sites]
    if scheme.method == Scheme.Method.CLUSTER_STRATIFIED:
        labels = {site.code: _site_stratum(scheme, site) for site in sites}
        result = cluster.stratified(seed, labels, weights)
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
        result = cluster.pair_matched(
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
        result = cluster.constrained(
            seed, covariates, weights, quantile=float(scheme.constraint_cutoff)
        )
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
    result = cluster.stepped_wedge(seed, codes, scheme.steps or 1, strata=labels)
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


def revealed_commitment(scheme: Scheme) -> dict[str, Any]:
    """Everything the commitment hash covers, the seed included: published after the trial so
    that anyone can recompute ``sha256(canonical JSON)`` and compare it with the hash that was
    published before the first allocation."""
    if not scheme.is_locked:
        raise TrialError(_("Only a locked scheme has a commitment."))
    seed = _seed(scheme)
    committed = {k: v for k, v in scheme.commitment.items() if k != "initial_blocks"}
    weights = [(code, weight) for code, weight in committed.get("arms", [])]
    lists: dict[str, list[str]] = {}
    if scheme.method == Scheme.Method.BLOCKS:
        count = scheme.commitment.get("initial_blocks", 0)
        for stratum in strata(scheme):
            made = engine.blocks(seed, stratum, weights, scheme.block_sizes, count=count)
            lists[stratum] = [code for block in made for code in block.arms]
    return {**committed, "lists": lists, "seed": seed.hex()}
