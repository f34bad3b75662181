"""The allocation service on the database: eligibility, strata, sealed lists, the hash chain."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from django.db import DatabaseError, connection, transaction

from randomisation.allocation import services as allocation_services
from randomisation.allocation import verification
from randomisation.cluster import services as cluster_services
from randomisation.models import Allocation, BlockSlot, Scheme
from randomisation.schemes import services as scheme_services
from tests import factories
from trial.models import CovariateDefinition, Participant, Trial, Withdrawal
from trial.services import TrialError

pytestmark = pytest.mark.django_db


def recruiting_trial(**scheme_fields):
    trial = factories.make_trial(code="rnd", status=Trial.Status.RECRUITING, target_size=40)
    sites = [factories.make_site(trial, code) for code in ("OSL", "BGO")]
    CovariateDefinition.objects.create(
        trial=trial, key="sex", label="Sex", kind="choice", choices=[["f", "F"], ["m", "M"]]
    )
    user = factories.make_user("coord")
    fields = {"method": Scheme.Method.BLOCKS, "block_sizes": [4, 6], "stratify_by_site": True}
    fields.update(scheme_fields)
    scheme = Scheme.objects.create(trial=trial, **fields)
    return trial, sites, user, scheme


def consented(trial, site, sex="f", **fields):
    values = {
        "consent_version": "v1",
        "consent_date": dt.date(2025, 3, 1),
        "baseline": {"sex": sex},
    }
    values.update(fields)
    return factories.make_participant(trial, site, **values)


def test_locking_generates_sealed_lists_and_a_commitment() -> None:
    _trial, _sites, user, scheme = recruiting_trial()
    scheme_services.lock_scheme(scheme, actor=user)
    scheme.refresh_from_db()
    assert scheme.is_locked and len(scheme.commitment_hash) == 64
    assert scheme.seed_encrypted and "seed" not in scheme.commitment
    strata = set(BlockSlot.objects.filter(scheme=scheme).values_list("stratum", flat=True))
    assert strata == {"site=OSL", "site=BGO"}
    # Every block honours the 1:1 ratio.
    for stratum in strata:
        slots = BlockSlot.objects.filter(scheme=scheme, stratum=stratum).order_by("position")
        by_block: dict[int, Counter] = {}
        for slot in slots:
            by_block.setdefault(slot.block_number, Counter())[slot.arm.code] += 1
        assert all(c["A"] == c["B"] and sum(c.values()) in (4, 6) for c in by_block.values())
    with pytest.raises(TrialError, match="already locked"):
        scheme_services.lock_scheme(scheme, actor=user)


def test_block_sizes_must_keep_the_ratio() -> None:
    _trial, _sites, user, scheme = recruiting_trial(block_sizes=[3, 4])
    with pytest.raises(TrialError) as error:
        scheme_services.lock_scheme(scheme, actor=user)
    assert error.value.field == "block_sizes" and "3" in error.value.message
    scheme.refresh_from_db()
    assert not scheme.is_locked and not BlockSlot.objects.exists()


def test_randomise_follows_the_sealed_list_and_schedules_visits() -> None:
    trial, sites, user, scheme = recruiting_trial()
    trial.visit_definitions.create(code="m6", label="6 months", offset_months=6)
    scheme_services.lock_scheme(scheme, actor=user)
    people = [consented(trial, sites[0]) for _ in range(10)]
    arms = [
        allocation_services.randomise(p, actor=user, on=dt.date(2025, 3, 2)).allocation
        for p in people
    ]
    expected = list(
        BlockSlot.objects.filter(scheme=scheme, stratum="site=OSL")
        .order_by("position")
        .values_list("arm__code", flat=True)[:10]
    )
    assert [a.arm.code for a in arms] == expected
    assert [a.sequence for a in arms] == list(range(1, 11))
    assert [a.slot_position for a in arms] == list(range(1, 11))
    people[0].refresh_from_db()
    assert people[0].randomised_on == dt.date(2025, 3, 2)
    assert people[0].visits.get().due_on == dt.date(2025, 9, 2)
    assert verification.verify(trial).ok


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"status": Participant.Status.LOST}, "status"),
        ({"consent_date": None}, "consent"),
        ({"baseline": {}}, "sex is missing"),
    ],
)
def test_refusals_write_nothing(change, message) -> None:
    trial, sites, user, scheme = recruiting_trial(stratify_by_site=False, strata_covariates=["sex"])
    scheme_services.lock_scheme(scheme, actor=user)
    participant = consented(trial, sites[0], **change)
    with pytest.raises(TrialError, match=message):
        allocation_services.randomise(participant, actor=user)
    assert not Allocation.objects.exists()
    assert not BlockSlot.objects.filter(used=True).exists()


def test_already_randomised_and_not_recruiting_are_refused() -> None:
    trial, sites, user, scheme = recruiting_trial()
    scheme_services.lock_scheme(scheme, actor=user)
    participant = consented(trial, sites[0])
    first = allocation_services.randomise(participant, actor=user).allocation
    with pytest.raises(TrialError, match="already randomised"):
        allocation_services.randomise(participant, actor=user)
    trial.status = Trial.Status.FOLLOW_UP
    trial.save()
    with pytest.raises(TrialError, match="not recruiting"):
        allocation_services.randomise(consented(trial, sites[0]), actor=user)
    assert list(Allocation.objects.all()) == [first]


def test_idempotency_key_returns_the_same_allocation() -> None:
    trial, sites, user, scheme = recruiting_trial()
    scheme_services.lock_scheme(scheme, actor=user)
    participant, other = consented(trial, sites[0]), consented(trial, sites[0])
    first = allocation_services.randomise(participant, actor=user, idempotency_key="k-1")
    again = allocation_services.randomise(participant, actor=user, idempotency_key="k-1")
    assert first.created and not again.created
    assert again.allocation.pk == first.allocation.pk
    with pytest.raises(TrialError) as error:
        allocation_services.randomise(other, actor=user, idempotency_key="k-1")
    assert error.value.field == "idempotency_key"
    assert Allocation.objects.count() == 1


def test_a_stratum_that_runs_out_is_extended_from_the_seed() -> None:
    trial, sites, user, scheme = recruiting_trial()
    trial.target_size = 2  # two blocks per stratum at lock time
    trial.save()
    scheme_services.lock_scheme(scheme, actor=user)
    initial = BlockSlot.objects.filter(scheme=scheme, stratum="site=OSL").count()
    for _ in range(initial + 3):
        allocation_services.randomise(consented(trial, sites[0]), actor=user)
    slots = BlockSlot.objects.filter(scheme=scheme, stratum="site=OSL")
    assert slots.count() > initial and slots.filter(used=True).count() == initial + 3
    assert verification.verify(trial).ok


def test_a_scheme_taking_the_id_of_a_rolled_back_one_uses_its_own_seed_and_arms() -> None:
    """The per-process cache of scheme keys must not serve a rolled-back scheme's seed and arms
    to the next scheme: SQLite (the embedded default) gives the next row the rolled-back id."""

    class Undo(Exception):
        pass

    with pytest.raises(Undo), transaction.atomic():
        trial, sites, user, scheme = recruiting_trial()
        scheme_services.lock_scheme(scheme, actor=user)
        allocation_services.randomise(consented(trial, sites[0]), actor=user)
        gone = (trial.pk, scheme.pk, set(trial.arms.values_list("pk", flat=True)))
        raise Undo
    trial, sites, user, scheme = recruiting_trial()
    trial.arms.filter(code="A").update(name="The other intervention")
    trial.target_size = 2  # two blocks per stratum, so the list is extended from the seed
    trial.save()
    scheme_services.lock_scheme(scheme, actor=user)
    if connection.vendor == "sqlite":  # the reuse that made the cache name another scheme
        assert (trial.pk, scheme.pk) == gone[:2]
        assert set(trial.arms.values_list("pk", flat=True)) == gone[2]
    initial = BlockSlot.objects.filter(scheme=scheme, stratum="site=OSL").count()
    people = [consented(trial, sites[0]) for _ in range(initial + 3)]
    allocated = [allocation_services.randomise(p, actor=user).allocation for p in people]
    assert verification.verify(trial).ok  # the extension came from this scheme's seed
    names = {allocation.arm.code: allocation.arm.name for allocation in allocated}
    assert names["A"] == "The other intervention"


def test_withdrawn_participant_is_refused() -> None:
    trial, sites, user, scheme = recruiting_trial()
    scheme_services.lock_scheme(scheme, actor=user)
    participant = consented(trial, sites[0])
    Withdrawal.objects.create(
        participant=participant, withdrawn_on=dt.date(2025, 3, 2), scope="no_contact", reason="x"
    )
    participant.status = Participant.Status.WITHDRAWN
    participant.save()
    with pytest.raises(TrialError, match="status"):
        allocation_services.randomise(participant, actor=user)


def test_minimisation_balances_margins() -> None:
    trial, sites, user, scheme = recruiting_trial(
        method=Scheme.Method.MINIMISATION,
        block_sizes=[],
        stratify_by_site=False,
        minimisation_factors=[{"factor": "site", "weight": 1}, {"factor": "sex", "weight": 1}],
        p_best="1.00",
    )
    scheme_services.lock_scheme(scheme, actor=user)
    for i in range(24):
        allocation_services.randomise(
            consented(trial, sites[i % 2], sex="fm"[i % 3 == 0]), actor=user
        )
    rows = Allocation.objects.select_related("participant__site")
    for key in ("site", "sex"):
        by_level: dict[str, Counter] = {}
        for allocation in rows:
            level = allocation.details["factors"][key]
            by_level.setdefault(level, Counter())[allocation.arm.code] += 1
        # With p_best = 1 every margin stays within one of perfect balance.
        assert all(abs(c["A"] - c["B"]) <= 1 for c in by_level.values()), (key, by_level)
    assert verification.verify(trial).ok


def test_database_refuses_to_change_an_allocation(require_postgres: None) -> None:
    trial, sites, user, scheme = recruiting_trial()
    scheme_services.lock_scheme(scheme, actor=user)
    allocation = allocation_services.randomise(consented(trial, sites[0]), actor=user).allocation
    for statement in (
        "UPDATE randomisation_allocation SET reason = 'x'",
        "DELETE FROM randomisation_allocation",
        "UPDATE randomisation_blockslot SET used = false WHERE used",
        "DELETE FROM randomisation_blockslot",
    ):
        with (
            # The application's restricted role lacks the right (.ci/run); any other role is
            # stopped by the trigger.
            pytest.raises(DatabaseError, match=r"refused|permission denied"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)
    assert Allocation.objects.get().hash == allocation.hash


def cluster_trial(design, **scheme_fields):
    trial = factories.make_trial(
        code="clu", status=Trial.Status.RECRUITING, target_size=40, design=design
    )
    sites = [
        factories.make_site(trial, code, region="east" if i % 2 else "west")
        for i, code in enumerate(("S1", "S2", "S3", "S4", "S5", "S6"))
    ]
    user = factories.make_user("coord")
    scheme = Scheme.objects.create(trial=trial, **scheme_fields)
    scheme_services.lock_scheme(scheme, actor=user)
    return trial, sites, user


def test_cluster_sites_are_randomised_once_and_participants_take_their_sites_arm() -> None:
    trial, sites, user = cluster_trial(
        Trial.Design.CLUSTER,
        method=Scheme.Method.CLUSTER_STRATIFIED,
        site_strata_field="region",
    )
    participant = consented(trial, sites[0])
    with pytest.raises(TrialError, match="has not been randomised"):
        allocation_services.randomise(participant, actor=user)
    site_allocations = cluster_services.randomise_sites(trial, actor=user)
    assert len(site_allocations) == 6
    for region in ("east", "west"):
        arms = Counter(a.arm.code for a in site_allocations if a.stratum == f"region={region}")
        assert sum(arms.values()) == 3 and abs(arms["A"] - arms["B"]) == 1
    with pytest.raises(TrialError, match="already been randomised"):
        cluster_services.randomise_sites(trial, actor=user)
    allocation = allocation_services.randomise(participant, actor=user).allocation
    site_arm = next(a.arm for a in site_allocations if a.site == sites[0])
    assert allocation.source == Allocation.Source.CLUSTER and allocation.arm == site_arm
    assert verification.verify(trial).ok


def test_constrained_randomisation_balances_site_covariates() -> None:
    sizes = {"S1": 40, "S2": 80, "S3": 120, "S4": 45, "S5": 85, "S6": 115}
    trial, _sites, user = cluster_trial(
        Trial.Design.CLUSTER,
        method=Scheme.Method.CLUSTER_CONSTRAINED,
        site_covariates={code: {"size": size} for code, size in sizes.items()},
        constraint_covariates=["size"],
        constraint_cutoff="0.2",
    )
    allocations = cluster_services.randomise_sites(trial, actor=user)
    by_arm: dict[str, list[int]] = {}
    for allocation in allocations:
        assert allocation.site is not None
        by_arm.setdefault(allocation.arm.code, []).append(sizes[allocation.site.code])
    assert sorted(len(v) for v in by_arm.values()) == [3, 3]
    # Of the 20 possible 3/3 splits, only the best 20% are eligible: the arms' mean sizes
    # then differ by at most 10 sites' worth (hand-checked: the best four splits differ by
    # 0, 3.3, 6.7 and 10).
    means = [sum(v) / 3 for v in by_arm.values()]
    assert abs(means[0] - means[1]) <= 10 + 1e-9
    assert allocations[0].details["constrained"]["candidates"] == 20


def test_stepped_wedge_participants_switch_arm_at_their_sites_crossover() -> None:
    trial, sites, user = cluster_trial(
        Trial.Design.STEPPED_WEDGE,
        method=Scheme.Method.STEPPED_WEDGE,
        steps=3,
        first_step_on=dt.date(2025, 6, 1),
        step_length_months=4,
    )
    made = cluster_services.randomise_sites(trial, actor=user)
    site_allocations = {a.site.code: a for a in made if a.site is not None}
    assert len(site_allocations) == len(made)
    assert Counter(a.details["step"] for a in site_allocations.values()) == {1: 2, 2: 2, 3: 2}
    site = sites[0]
    crossover = dt.date.fromisoformat(site_allocations[site.code].details["crossover_on"])
    before = allocation_services.randomise(
        consented(trial, site), actor=user, on=crossover - dt.timedelta(days=1)
    ).allocation
    after = allocation_services.randomise(
        consented(trial, site), actor=user, on=crossover
    ).allocation
    assert before.arm.is_control and not after.arm.is_control
    assert verification.verify(trial).ok


def test_revealed_commitment_reproduces_the_published_hash(capsys) -> None:
    import hashlib
    import json

    from django.core.management import CommandError, call_command

    trial, _sites, user, scheme = recruiting_trial()
    scheme_services.lock_scheme(scheme, actor=user)
    scheme.refresh_from_db()
    with pytest.raises(CommandError, match="not closed"):
        call_command("reveal_commitment", trial.code)
    call_command("reveal_commitment", trial.code, force=True)
    text = capsys.readouterr().out.strip()
    assert hashlib.sha256(text.encode()).hexdigest() == scheme.commitment_hash
    revealed = json.loads(text)
    stored = list(
        BlockSlot.objects.filter(scheme=scheme, stratum="site=OSL")
        .order_by("position")
        .values_list("arm__code", flat=True)
    )
    assert revealed["lists"]["site=OSL"] == stored and len(revealed["seed"]) == 64
