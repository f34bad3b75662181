"""Proving afterwards that nothing was changed: recompute the hash chain, check every MAC,
anchor and the witness outside the database, the commitments and the sealed lists; write the
daily witness checkpoints; anchor a chain under the signing key (after an upgrade, a key
rotation or a restore).
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from randomisation import engine
from randomisation.allocation import chain
from randomisation.allocation.chain import ChainUnavailable
from randomisation.allocation.log import GENESIS, chain_head, make_anchor
from randomisation.allocation.models import Allocation, ChainAnchor, FactorCount
from randomisation.schemes.models import BlockSlot, Scheme
from randomisation.schemes.services import (
    commitment_hash,
    commitment_payload,
    lock_trial,
    scheme_seed,
    strata,
)
from trial.models import Trial
from trial.services import TrialError

log = logging.getLogger(__name__)


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
    slots, lists = _read_slots(trial)
    used_positions: set[_SlotKey] = set()
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
            slot_key = (allocation.scheme_id, allocation.stratum, allocation.slot_position)
            _check_slot(result, allocation, slot_key, slots, used_positions)
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


_SlotKey = tuple[int, str, int]  # scheme id, stratum, position


def _read_slots(trial: Trial) -> tuple[dict[_SlotKey, _Slot], dict[int, dict[str, list[_Slot]]]]:
    """The trial's sealed-list slots by scheme, stratum and position, and as lists: scheme ->
    stratum -> slots in position order."""
    slots: dict[_SlotKey, _Slot] = {}
    lists: dict[int, dict[str, list[_Slot]]] = {}
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
    return slots, lists


def _check_slot(
    result: Verification,
    allocation: _VerifyRow,
    key: _SlotKey,
    slots: dict[_SlotKey, _Slot],
    used_positions: set[_SlotKey],
) -> None:
    """The allocation's slot (``key``) exists, holds its arm, is marked used, and no earlier
    allocation took it."""
    n = allocation.sequence
    slot = slots.get(key)
    if slot is None or slot.arm_id != allocation.arm_id or not slot.used:
        result.fail(n, _("#%(n)s: does not match its slot in the sealed list") % {"n": n})
    if key in used_positions:
        result.fail(n, _("#%(n)s: reuses a slot already taken") % {"n": n})
    used_positions.add(key)


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
    """``log.allocation_payload`` of a row read by :func:`verify` (the same content)."""
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
        head = chain_head(trial)
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
    seed = scheme_seed(scheme)
    committed = {k: v for k, v in scheme.commitment.items() if k != "initial_blocks"}
    current = {k: v for k, v in commitment_payload(scheme, {}).items() if k != "lists"}
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
        trial = lock_trial(trial)
        head = chain_head(trial)
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
        return make_anchor(trial, head, key, actor, reason, extra)
