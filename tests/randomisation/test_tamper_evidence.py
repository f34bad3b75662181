"""Tamper evidence of the allocation log against a hostile insider (issue 16).

The attacks are made as an attacker would make them: through a connection of their own to the
database (:func:`attacker`), as the tables' owner or a superuser, with the append-only triggers
switched off. After each, ``manage.py verify_allocations`` runs as a separate process, as an
auditor would run it, and must exit with status 1 naming the first allocation where the log,
its MACs and its witness disagree.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import dj_database_url
import psycopg
import pytest
from django.conf import settings
from django.core import mail
from django.core.management import call_command
from django.db import connection, transaction
from django.urls import reverse
from rest_framework.test import APIClient

from randomisation import engine, tasks
from randomisation.allocation import chain, verification
from randomisation.allocation import log as allocation_log
from randomisation.allocation import services as allocation_services
from randomisation.models import Allocation, ChainAnchor, Scheme
from randomisation.schemes import services as scheme_services
from tests import factories
from tests.conftest import OWNER_URL, TEST_CHAIN_KEY, World, api_token
from trial.models import AuditEvent, CovariateDefinition, Participant, Trial

OTHER_KEY = "another-allocation-chain-key-fedcba9876543210"


def attacker() -> psycopg.Connection[Any]:
    """A connection of the attacker's own to the test database, in autocommit: as a database
    superuser (``DATABASE_SUPERUSER``, a DBA who may set ``session_replication_role``) if set,
    else as the tables' owner (``DATABASE_OWNER_URL``), else as the application's user."""
    db = connection.settings_dict
    owner = dj_database_url.parse(OWNER_URL) if OWNER_URL else {}
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        dbname=db["NAME"],
        user=os.environ.get("DATABASE_SUPERUSER") or owner.get("USER") or db["USER"],
        password=os.environ.get("DATABASE_SUPERUSER_PASSWORD")
        or owner.get("PASSWORD")
        or db["PASSWORD"]
        or None,
        autocommit=True,
    )


def run_verify(code: str) -> subprocess.CompletedProcess[str]:
    """``manage.py verify_allocations`` in a process of its own, on the test database, with
    the chain keys and witness folder of the test (from the environment)."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    url = (
        f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
        f"/{db['NAME']}"
    )
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "FILES_ROOT": str(settings.FILES_ROOT),
        "ALLOCATION_CHAIN_KEYS": ",".join(settings.ALLOCATION_CHAIN_KEYS),
        "LOG_LEVEL": "WARNING",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "manage.py", "verify_allocations", code],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def blocks_trial(code: str = "tamper") -> tuple[Trial, list[Any], Any]:
    trial = factories.make_trial(code=code, status=Trial.Status.RECRUITING, target_size=40)
    sites = [factories.make_site(trial, site) for site in ("OSL", "BGO")]
    CovariateDefinition.objects.create(
        trial=trial, key="sex", label="Sex", kind="choice", choices=[["f", "F"], ["m", "M"]]
    )
    user = factories.make_user(f"coord-{code}")
    scheme = Scheme.objects.create(
        trial=trial, method=Scheme.Method.BLOCKS, block_sizes=[4, 6], stratify_by_site=True
    )
    scheme_services.lock_scheme(scheme, actor=user)
    return trial, sites, user


def consented(trial: Trial, site: Any) -> Participant:
    return factories.make_participant(
        trial,
        site,
        consent_version="v1",
        consent_date=dt.date(2025, 3, 1),
        baseline={"sex": "f"},
    )


@pytest.fixture
def randomised(transactional_db: None, require_postgres: None) -> Iterator[Trial]:
    """A trial with six allocations at one site (one stratum), committed, so the attacker's
    connection sees them and every allocation wrote its commit line to the witness."""
    trial, sites, user = blocks_trial()
    for _ in range(6):
        allocation_services.randomise(consented(trial, sites[0]), actor=user)
    result = verification.verify(trial)
    assert result.ok and result.checked == 6, result.problems
    yield trial


def rechain(trial: Trial, start: int, *, key: str | None) -> None:
    """What an attacker does after changing allocation ``start``: recompute the unkeyed hash
    chain from there on (the algorithm is public). With ``key`` the MACs are recomputed too;
    an attacker who does not hold the chain key uses a guess of their own."""
    rows = list(
        Allocation.objects.filter(trial=trial)
        .select_related("trial", "scheme", "participant", "site", "arm")
        .order_by("sequence")
    )
    previous = rows[start - 2].hash if start > 1 else allocation_log.GENESIS
    signer = chain._derive(key) if key else None
    with attacker() as conn:
        conn.execute("SET session_replication_role = replica")
        for allocation in rows[start - 1 :]:
            allocation.previous_hash = previous
            allocation.hash = engine.commitment(allocation_log.allocation_payload(allocation))
            mac = chain.mac(signer, allocation.hash) if signer else allocation.mac
            conn.execute(
                "UPDATE randomisation_allocation SET previous_hash = %s, hash = %s, mac = %s"
                " WHERE id = %s",
                [previous, allocation.hash, mac, allocation.pk],
            )
            previous = allocation.hash


# --- the attacks ---------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["disable triggers", "replica role"])
def test_deleting_the_last_allocations_is_caught_by_the_witness(
    randomised: Trial, how: str
) -> None:
    with attacker() as conn:
        if how == "replica role":
            conn.execute("SET session_replication_role = replica")
        else:
            conn.execute("ALTER TABLE randomisation_allocation DISABLE TRIGGER USER")
        conn.execute(
            "DELETE FROM randomisation_allocation WHERE trial_id = %s AND sequence > 4",
            [randomised.pk],
        )
        if how == "disable triggers":
            conn.execute("ALTER TABLE randomisation_allocation ENABLE TRIGGER USER")
    result = run_verify(randomised.code)
    assert result.returncode == 1
    assert "2 allocations missing after #4" in result.stderr
    assert "first broken link: #5" in result.stderr


def test_truncating_the_log_is_caught_by_the_witness(randomised: Trial) -> None:
    with attacker() as conn:
        conn.execute("TRUNCATE randomisation_allocation CASCADE")
    result = run_verify(randomised.code)
    assert result.returncode == 1
    assert "6 allocations missing after #0" in result.stderr
    assert "first broken link: #1" in result.stderr
    assert "intact" not in result.stdout


def test_backdating_and_recomputing_the_chain_is_caught_by_the_mac(randomised: Trial) -> None:
    with attacker() as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(
            "UPDATE randomisation_allocation SET allocated_on = allocated_on - 30,"
            " created_at = created_at - interval '30 days' WHERE trial_id = %s AND sequence = 3",
            [randomised.pk],
        )
    # The unkeyed chain recomputed, with the MACs left alone or made with a guessed key.
    rechain(randomised, 3, key=OTHER_KEY)
    result = run_verify(randomised.code)
    assert result.returncode == 1
    assert "#3: its MAC does not match" in result.stderr
    assert "first broken link: #3" in result.stderr
    assert "#3 differs from what the witness saw" in result.stderr


def test_swapping_participants_within_a_stratum_is_caught(randomised: Trial) -> None:
    rows = list(Allocation.objects.filter(trial=randomised).order_by("sequence"))
    a = next(row for row in rows if row.arm.code == "A")
    b = next(row for row in rows if row.arm.code == "B" and row.stratum == a.stratum)
    assert a.participant is not None
    spare = consented(randomised, a.participant.site)
    with attacker() as conn:
        conn.execute("SET session_replication_role = replica")
        # Through a spare participant: the one-to-one constraint is checked row by row.
        for allocation, participant in (
            (a, spare.pk),
            (b, a.participant_id),
            (a, b.participant_id),
        ):
            conn.execute(
                "UPDATE randomisation_allocation SET participant_id = %s WHERE id = %s",
                [participant, allocation.pk],
            )
    first = min(a.sequence, b.sequence)
    rechain(randomised, first, key=None)
    result = run_verify(randomised.code)
    assert result.returncode == 1
    assert f"#{first}: its MAC does not match" in result.stderr
    assert f"first broken link: #{first}" in result.stderr


def test_a_plain_arm_flip_is_caught(randomised: Trial) -> None:
    third = Allocation.objects.get(trial=randomised, sequence=3)
    other = randomised.arms.exclude(pk=third.arm_id).get()
    with attacker() as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(
            "UPDATE randomisation_allocation SET arm_id = %s WHERE id = %s", [other.pk, third.pk]
        )
    result = run_verify(randomised.code)
    assert result.returncode == 1
    assert "#3: content does not match its hash" in result.stderr
    assert "first broken link: #3" in result.stderr


def test_a_dba_with_the_key_but_not_the_witness_is_caught_by_the_witness(
    randomised: Trial,
) -> None:
    """Backdating #3 and re-signing the whole chain with the real key leaves every hash and
    MAC consistent; only the witness outside the database still knows the old heads."""
    with attacker() as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(
            "UPDATE randomisation_allocation SET allocated_on = allocated_on - 30"
            " WHERE trial_id = %s AND sequence = 3",
            [randomised.pk],
        )
    rechain(randomised, 3, key=TEST_CHAIN_KEY)
    result = run_verify(randomised.code)
    assert result.returncode == 1
    assert "MAC does not match" not in result.stderr
    assert "#3 differs from what the witness saw" in result.stderr
    assert "first broken link: #3" in result.stderr
    # Cutting the end off as well: the witness still counts what is missing.
    with attacker() as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(
            "DELETE FROM randomisation_allocation WHERE trial_id = %s AND sequence = 6",
            [randomised.pk],
        )
    assert "1 allocation missing after #5" in run_verify(randomised.code).stderr


def test_a_line_removed_from_the_witness_is_caught(randomised: Trial) -> None:
    path = chain.witness_path(randomised.code)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:3] + lines[4:]))
    result = run_verify(randomised.code)
    assert result.returncode == 1
    assert "Witness line 4 does not follow the line before it" in result.stderr


def test_stripping_the_signatures_does_not_let_the_log_be_anchored_again(
    randomised: Trial,
) -> None:
    """An unsigned head would be anchored once after an upgrade; a log that was signed before
    (its witness saw committed allocations) is refused instead."""
    with attacker() as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(
            "UPDATE randomisation_allocation SET mac = '', mac_key = '' WHERE trial_id = %s",
            [randomised.pk],
        )
    person = consented(randomised, randomised.sites.get(code="OSL"))
    with pytest.raises(chain.ChainUnavailable, match="not signed although the log was signed"):
        allocation_services.randomise(person, actor=None)
    assert not ChainAnchor.objects.exists()
    assert run_verify(randomised.code).returncode == 1


# --- a transaction that rolls back after its witness line ----------------------------------


def test_a_rolled_back_allocation_is_not_reported_missing(
    transactional_db: None, require_postgres: None
) -> None:
    trial, sites, user = blocks_trial()
    allocation_services.randomise(consented(trial, sites[0]), actor=user)
    with pytest.raises(RuntimeError), transaction.atomic():
        allocation_services.randomise(consented(trial, sites[0]), actor=user)
        raise RuntimeError("the request failed after the allocation")
    lines = chain.witness_path(trial.code).read_text().splitlines()
    assert [line.split("\t")[1] for line in lines] == ["intent", "commit", "intent"]
    allocation_services.randomise(consented(trial, sites[0]), actor=user)
    result = verification.verify(trial)
    assert result.ok, result.problems
    assert result.checked == 2 and result.checkpoint.sequence == 2  # type: ignore[union-attr]


# --- bad input and faults: the key, the witness ----------------------------------------------


@pytest.fixture
def ready(world: World) -> World:
    trial = world.trial
    trial.status = Trial.Status.RECRUITING
    trial.save()
    Participant.objects.filter(trial=trial).update(
        consent_version="v1", consent_date=dt.date(2025, 3, 1)
    )
    scheme = Scheme.objects.create(
        trial=trial, method=Scheme.Method.BLOCKS, block_sizes=[2, 4], stratify_by_site=True
    )
    scheme_services.lock_scheme(scheme, actor=world.users["coordinator"])
    return world


def api_randomise(world: World, participant: Participant) -> Any:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(world.users['coordinator'])}")
    path = f"/api/v1/trials/{world.trial.code}/participants/{participant.study_id}/randomisation/"
    return client.post(path, {}, format="json")


def page_randomise(world: World, participant: Participant) -> Any:
    client = world.client("coordinator")
    path = reverse("randomisation:randomise", args=[world.trial.code, participant.study_id])
    return client.post(path, {"token": "t0ken-for-this-form", "confirm": "on"})


def assert_nothing_saved(participant: Participant) -> None:
    assert not Allocation.objects.exists()
    assert not AuditEvent.objects.filter(action="participant.randomised").exists()
    participant.refresh_from_db()
    assert participant.randomised_on is None


def test_without_a_chain_key_randomising_is_refused_naming_the_variable(
    ready: World, settings: Any
) -> None:
    settings.ALLOCATION_CHAIN_KEYS = []
    first, second = ready.participants["OSLA"][:2]
    answer = api_randomise(ready, first)
    assert answer.status_code == 503
    assert answer.json()["code"] == "service_unavailable"
    assert "ALLOCATION_CHAIN_KEYS is not set" in answer.json()["detail"]
    page = page_randomise(ready, second)
    assert page.status_code == 200
    assert "ALLOCATION_CHAIN_KEYS is not set" in page.content.decode()
    assert_nothing_saved(first)
    assert_nothing_saved(second)


def test_with_a_wrong_chain_key_randomising_is_refused_not_restarted(
    ready: World, settings: Any
) -> None:
    first, second = ready.participants["OSLA"]
    third = ready.participants["OSLB"][0]
    assert api_randomise(ready, first).status_code == 201
    settings.ALLOCATION_CHAIN_KEYS = [OTHER_KEY]
    answer = api_randomise(ready, second)
    assert answer.status_code == 503
    assert "ALLOCATION_CHAIN_KEYS does not hold the key allocation #1" in answer.json()["detail"]
    page = page_randomise(ready, second)
    assert page.status_code == 200
    assert "ALLOCATION_CHAIN_KEYS does not hold the key" in page.content.decode()
    assert Allocation.objects.count() == 1
    second.refresh_from_db()
    assert second.randomised_on is None
    # Rotation: the new key first, the old one after it: the chain goes on.
    settings.ALLOCATION_CHAIN_KEYS = [OTHER_KEY, TEST_CHAIN_KEY]
    assert api_randomise(ready, third).status_code == 201


def test_an_unwritable_witness_refuses_the_allocation(
    ready: World, settings: Any, tmp_path: Any
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    settings.ALLOCATION_WITNESS_DIR = str(blocker / "witness")
    first, second = ready.participants["OSLA"][:2]
    answer = api_randomise(ready, first)
    assert answer.status_code == 503
    assert "witness file cannot be written" in answer.json()["detail"]
    page = page_randomise(ready, second)
    assert page.status_code == 200
    assert "witness file cannot be written" in page.content.decode()
    assert_nothing_saved(first)
    assert_nothing_saved(second)


# --- chains from before the key: the anchor ------------------------------------------------


def legacy_allocations(trial: Trial, sites: list[Any], user: Any, count: int) -> None:
    """Allocations as the version before the chain key wrote them: hash-chained, unsigned."""
    for _ in range(count):
        allocation_services.randomise(consented(trial, sites[0]), actor=user)
    with attacker() as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(
            "UPDATE randomisation_allocation SET mac = '', mac_key = '' WHERE trial_id = %s",
            [trial.pk],
        )
    chain.witness_path(trial.code).unlink()


def test_an_old_chain_is_anchored_at_the_first_allocation_after_the_upgrade(
    transactional_db: None, require_postgres: None
) -> None:
    trial, sites, user = blocks_trial("legacy")
    legacy_allocations(trial, sites, user, 3)
    before = verification.verify(trial)
    assert not before.ok and before.unanchored == 3
    assert "#1: neither signed with a configured chain key nor covered" in before.problems[0]
    allocation_services.randomise(consented(trial, sites[0]), actor=user)
    anchor = ChainAnchor.objects.get(trial=trial)
    assert anchor.sequence == 3 and anchor.reason == ChainAnchor.Reason.UPGRADE
    assert AuditEvent.objects.filter(action="allocation_log.anchored").count() == 1
    result = verification.verify(trial)
    assert result.ok, result.problems
    assert result.anchored_to == 3 and result.signed_from == 4
    out = call_command_output("verify_allocations", trial.code)
    assert "#1-#3 vouched for by the anchor" in out and "keyed chain (HMAC) from #4" in out


def call_command_output(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_the_anchor_command_anchors_an_old_chain_once(
    transactional_db: None, require_postgres: None
) -> None:
    trial, sites, user = blocks_trial("legacy")
    legacy_allocations(trial, sites, user, 2)
    assert "anchored at #2" in call_command_output("anchor_allocation_chain", "--all")
    assert "nothing to anchor" in call_command_output("anchor_allocation_chain", trial.code)
    assert ChainAnchor.objects.count() == 1
    assert AuditEvent.objects.filter(action="allocation_log.anchored").count() == 1
    assert verification.verify(trial).ok
    # The next allocation goes on from the anchored head, without a second anchor.
    allocation_services.randomise(consented(trial, sites[0]), actor=user)
    assert ChainAnchor.objects.count() == 1
    result = verification.verify(trial)
    assert result.ok and result.anchored_to == 2 and result.signed_from == 3


def test_rotating_the_key_anchors_under_the_new_key_and_the_old_key_can_go(
    require_postgres: None, settings: Any
) -> None:
    trial, sites, user = blocks_trial("rotate")
    for _ in range(2):
        allocation_services.randomise(consented(trial, sites[0]), actor=user)
    settings.ALLOCATION_CHAIN_KEYS = [OTHER_KEY, TEST_CHAIN_KEY]
    assert "anchored at #2" in call_command_output("anchor_allocation_chain", trial.code)
    assert ChainAnchor.objects.get().reason == ChainAnchor.Reason.ROTATION
    allocation_services.randomise(consented(trial, sites[0]), actor=user)
    assert Allocation.objects.get(sequence=3).mac_key == chain._derive(OTHER_KEY).fingerprint
    settings.ALLOCATION_CHAIN_KEYS = [OTHER_KEY]
    result = verification.verify(trial)
    assert result.ok, result.problems
    assert result.anchored_to == 2
    assert any("no longer configured" in note for note in result.notes)


# --- the checkpoint: daily, on the page, in the e-mail ------------------------------------


def test_daily_checkpoint_is_shown_on_the_verify_page_and_in_coordinator_emails(
    ready: World,
) -> None:
    participant = ready.participants["OSLA"][0]
    outcome = allocation_services.randomise(participant, actor=ready.users["coordinator"])
    assert tasks.write_allocation_checkpoints() == 1
    assert tasks.write_allocation_checkpoints() == 1  # repeating adds a line, harmless
    point = chain.latest_checkpoint(ready.trial.code)
    assert point is not None and point.kind == "daily" and point.sequence == 1
    assert point.head == outcome.allocation.hash
    for persona in ("coordinator", "monitor"):
        page = ready.client(persona).get(reverse("randomisation:verify", args=[ready.trial.code]))
        assert page.status_code == 200
        assert f"Allocation #1, head {outcome.allocation.hash[:12]}" in page.content.decode()
    ready.users["coordinator"].email = "coord@example.org"
    ready.users["coordinator"].save()
    with ready_on_commit():
        allocation_services.unblind(
            outcome.allocation, reason="Emergency", actor=ready.users["coordinator"]
        )
    assert f"#1, head {outcome.allocation.hash[:12]}" in mail.outbox[-1].body


def ready_on_commit() -> Any:
    from django.test import TestCase

    return TestCase.captureOnCommitCallbacks(execute=True)


def test_verify_reads_the_daily_line_as_binding(
    transactional_db: None, require_postgres: None
) -> None:
    trial, sites, user = blocks_trial()
    for _ in range(2):
        allocation_services.randomise(consented(trial, sites[0]), actor=user)
    # Only intents and the daily line: the commit lines were lost (a crash after commit).
    path = chain.witness_path(trial.code)
    path.unlink()
    verification.write_checkpoints()
    with attacker() as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("DELETE FROM randomisation_allocation WHERE sequence = 2")
    result = verification.verify(trial)
    assert "1 allocation missing after #1" in " ".join(result.problems)


def test_after_a_restore_a_new_witness_is_started_and_the_old_one_kept(
    transactional_db: None, require_postgres: None
) -> None:
    trial, sites, user = blocks_trial("restored")
    for _ in range(3):
        allocation_services.randomise(consented(trial, sites[0]), actor=user)
    with attacker() as conn:  # the backup was taken before #3
        conn.execute("SET session_replication_role = replica")
        conn.execute("DELETE FROM randomisation_allocation WHERE sequence = 3")
    assert "1 allocation missing after #2" in " ".join(verification.verify(trial).problems)
    out = call_command_output("anchor_allocation_chain", trial.code, "--new-witness")
    assert "anchored at #2" in out
    kept = list(chain.witness_dir().glob(f"{trial.code}.log.replaced-*"))
    assert len(kept) == 1 and "\tcommit\t" in kept[0].read_text()
    event = AuditEvent.objects.get(action="allocation_log.anchored")
    assert event.data["reason"] == "witness" and event.data["replaced_witness"] == kept[0].name
    allocation_services.randomise(consented(trial, sites[0]), actor=user)
    result = verification.verify(trial)
    assert result.ok, result.problems
    assert result.checkpoint is not None and result.checkpoint.sequence == 3
