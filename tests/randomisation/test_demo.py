"""The demo trial is randomised by its real scheme, with the log intact."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter

import pytest
from django.core.management import call_command

from demo.seed import seed_demo
from randomisation.allocation import chain, verification
from randomisation.models import Allocation, BlockSlot, Scheme
from trial import personal_numbers
from trial.demo import DEMO_TRIAL_CODE
from trial.models import AuditEvent, Participant

pytestmark = pytest.mark.django_db


def test_demo_is_randomised_by_stratified_blocks_with_an_intact_log() -> None:
    result = seed_demo(participants=60, seed=5, as_of=dt.date(2026, 6, 1))
    trial = result.trial
    scheme = Scheme.objects.locked_for(trial)
    assert scheme is not None and scheme.stratify_by_site and scheme.commitment_hash
    randomised = Participant.objects.filter(trial=trial, randomised_on__isnull=False)
    allocations = Allocation.objects.filter(trial=trial)
    assert allocations.count() == randomised.count() > 50
    assert set(allocations.values_list("stratum", flat=True)) <= {
        f"site={code}" for code in trial.sites.values_list("code", flat=True)
    }
    # Allocations follow each site's sealed list in order: positions 1..n, no gaps.
    for stratum in set(allocations.values_list("stratum", flat=True)):
        slots = allocations.filter(stratum=stratum).values_list("slot_position", flat=True)
        positions = sorted(position for position in slots if position is not None)
        assert len(positions) == len(slots)
        assert positions == list(range(1, len(positions) + 1))
        used = BlockSlot.objects.filter(scheme=scheme, stratum=stratum, used=True)
        assert used.count() == len(positions)
    # Every participant's visits are scheduled from their allocation date.
    for allocation in allocations.select_related("participant")[:10]:
        assert allocation.participant is not None
        assert allocation.participant.randomised_on == allocation.allocated_on
        assert allocation.participant.visits.exists()
    arms = Counter(allocations.values_list("arm__code", flat=True))
    assert abs(arms["A"] - arms["B"]) <= 2 * trial.sites.count()
    assert verification.verify(trial).ok


def test_verify_allocations_command(capsys: pytest.CaptureFixture[str]) -> None:
    # The witness of an earlier demo database (deleted, seeded again) is kept aside, not
    # compared with the new log.
    chain.write_witness(DEMO_TRIAL_CODE, "daily", 40, "f" * 64)
    result = seed_demo(participants=15, seed=2, as_of=dt.date(2026, 6, 1))
    call_command("verify_allocations", result.trial.code)
    out = capsys.readouterr().out
    assert "verified; chain, MACs, anchors, witness, commitments and sealed lists intact" in out
    assert len(list(chain.witness_dir().glob(f"{DEMO_TRIAL_CODE}.log.replaced-*"))) == 1


def test_the_demo_allocates_from_a_seed_of_its_own_and_the_audit_trail_says_so() -> None:
    """The demo's lists come from its seed, so the demo (and its reports) are the same on
    every machine; a real trial's seed is drawn at random (``lock_scheme``)."""
    result = seed_demo(participants=15, seed=4, as_of=dt.date(2026, 6, 1))
    scheme = Scheme.objects.locked_for(result.trial)
    assert scheme is not None
    expected = hashlib.sha256(b"demo allocation 4").digest().hex()
    assert personal_numbers.decrypt(scheme.seed_encrypted) == expected
    locked = AuditEvent.objects.get(action="scheme.locked", trial=result.trial)
    assert locked.data["seed"] == "given for a synthetic (demo) trial"
