"""Allocating: randomise a participant, record a manual allocation, mark one made in error,
unblind in an emergency.

Every allocation of a trial is appended under a row lock on the trial, so allocations are
strictly ordered: each takes the next sequence number, the next unused slot of its stratum and
the hash of the allocation before it (``log``). A retried request with the same idempotency key
gets the allocation it already has. Nothing is written unless everything is (one transaction).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from randomisation import engine
from randomisation.allocation.chain import Head
from randomisation.allocation.elsewhere import check_made_elsewhere, randomised_event
from randomisation.allocation.log import EMPTY_HEAD, append, checkpoint_text
from randomisation.allocation.models import Allocation, AllocationFlag, FactorCount, Unblinding
from randomisation.schemes.models import BlockSlot, Scheme
from randomisation.schemes.services import block_slots, lock_trial, scheme_seed
from trial import audit
from trial.models import Arm, Membership, Participant, ScreeningRecord, Trial
from trial.services import TrialError, generate_visits


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
    scheme = Scheme.objects.locked_for(trial)
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
        keys = _SchemeKeys(scheme_seed(scheme), arms, weights)
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
    allocation = append(
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
    new = block_slots(scheme, stratum, made, keys.arms, start_position=position)
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
    allocations' own ``details.factors`` by ``verification.verify``.
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
    return append(
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
    randomised_event(participant, allocation, before, actor).save()


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
    if source == Allocation.Source.MANUAL and not reference.strip():
        raise TrialError(_("Give the envelope or list reference."), field="reference")
    if source == Allocation.Source.MANUAL and not reason.strip():
        raise TrialError(_("Say why the system was not used."), field="reason")
    check_made_elsewhere(participant, arm=arm, on=on)
    with transaction.atomic():
        # Participant first, then the trial: the same order as randomise(), so no deadlock.
        locked = _participant_for_update(participant)
        trial = lock_trial(participant.trial)
        locked.trial = trial
        if source == Allocation.Source.MANUAL:
            check_can_randomise(locked)
        elif Allocation.objects.filter(participant=locked).exists():
            raise TrialError(
                _("%(study_id)s already has an allocation.") % {"study_id": locked.study_id}
            )
        allocation = append(
            trial,
            actor=actor,
            scheme=Scheme.objects.locked_for(trial) if source == Allocation.Source.MANUAL else None,
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
