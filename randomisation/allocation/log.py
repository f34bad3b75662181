"""The allocation log: each allocation is the next link of its trial's hash chain, signed
with the chain key and witnessed outside the database (``chain``). A chain from before the key
existed is anchored at its head, once.

The caller holds the trial's row lock and is inside a transaction (``services``).
"""

from __future__ import annotations

import hmac
from functools import partial
from typing import Any

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from randomisation import engine
from randomisation.allocation import chain
from randomisation.allocation.chain import ChainUnavailable, Head
from randomisation.allocation.models import Allocation, ChainAnchor
from trial import audit, bulk
from trial.models import Trial

GENESIS = "0" * 64
EMPTY_HEAD = Head(0, GENESIS, "")


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


def chain_head(trial: Trial) -> Head:
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


def append(
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
    return append_many(trial, [fields], actor=actor, head=head)[0]


def append_many(
    trial: Trial,
    links: list[dict[str, Any]],
    *,
    actor: User | None,
    head: Head | None = None,
) -> list[Allocation]:
    """:func:`append` for several links in order (each a dict of the allocation's fields), in
    one insert, witnessed at the last one: the hashes bind every link to the ones before, so
    the witness of the head vouches for them all. Same rules and errors as :func:`append`."""
    head = head or chain_head(trial)
    key = chain.signing_key()
    chain.check_head(head, key)
    if head.sequence and not head.key and not _anchored(trial, head):
        _anchor_unsigned_head(trial, head, key, actor)
    allocations = []
    sequence, previous = head.sequence, head.hash
    for fields in links:
        sequence += 1
        allocation = Allocation(
            trial=trial,
            sequence=sequence,
            previous_hash=previous,
            created_at=timezone.now(),
            allocated_by=actor,
            allocated_by_name=actor.get_username() if actor else "system",
            **fields,
        )
        allocation.hash = engine.commitment(allocation_payload(allocation))
        allocation.mac = chain.mac(key, allocation.hash)
        allocation.mac_key = key.fingerprint
        previous = allocation.hash
        allocations.append(allocation)
    if not allocations:
        return []
    bulk.insert(allocations)
    last = allocations[-1]
    # Before the commit, so that an unwritable witness refuses the allocations; binding only
    # once the commit line follows (rolled-back allocations never get one).
    chain.write_witness(trial.code, "intent", last.sequence, last.hash)
    transaction.on_commit(
        partial(chain.write_committed, trial.code, last.sequence, last.hash),
        robust=True,
    )
    return allocations


def sign_allocation(allocation: Allocation) -> None:
    """Set the hash and the MAC of an allocation built outside :func:`append` whose
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
    return make_anchor(trial, head, key, actor, ChainAnchor.Reason.UPGRADE)


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


def make_anchor(
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
