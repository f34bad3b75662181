"""Right of access (export_participant) and erasure (erase_participant) on the seeded demo
trial, whose participants have contacts, exposures, assessments, spells and allocations made
by the real services."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count
from django.utils import timezone

from demo.seed import seed_demo
from fidelity.models import Contact, Exposure
from instruments.models import Assessment
from pathways.models import Spell
from privacy.services import collect_participant_data
from randomisation.models import Allocation
from reports.extract import participants as participants_frame
from trial import personal_numbers
from trial.demo import DEMO_TRIAL_CODE
from trial.models import AuditEvent, Participant, Withdrawal
from trial.services import withdraw_participant

T = DEMO_TRIAL_CODE


@pytest.fixture
def demo(db: None) -> Participant:
    """The demo trial; returns a randomised participant with contacts, spells and
    assessments, whose contact carries a free-text note."""
    seed_demo(participants=24, seed=5)
    person = (
        Participant.objects.filter(trial__code=T, allocation__isnull=False)
        .exclude(status=Participant.Status.WITHDRAWN)
        .annotate(
            n_contacts=Count("contacts", distinct=True),
            n_spells=Count("spells", distinct=True),
            n_assessments=Count("visits__assessments", distinct=True),
        )
        .filter(n_contacts__gt=0, n_spells__gt=0, n_assessments__gt=0)
        .order_by("study_id")
        .first()
    )
    assert person is not None, "the demo should hold a participant with every kind of data"
    Contact.objects.filter(participant=person).update(note="Met at the café with his mother")
    return person


def read_export(folder: Path, person: Participant) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / f"{T}-{person.study_id}.json").read_text())
    return data


def test_export_holds_everything_about_the_participant_with_the_number(
    demo: Participant, tmp_path: Path
) -> None:
    out = io.StringIO()
    call_command(
        "export_participant",
        T,
        demo.study_id,
        "--out",
        str(tmp_path),
        "--by",
        "coordinator",
        stdout=out,
    )
    assert "Exported" in out.getvalue()
    data = read_export(tmp_path, demo)
    number = personal_numbers.decrypt(demo.personal_number_encrypted)
    person = data["participant"]
    assert {a["instrument"] for a in data["assessments"]} == {"employment", "who5"}
    assert person["personal_number"] == number  # the person's own data
    assert person["study_id"] == demo.study_id
    assert "personal_number_encrypted" not in person and "personal_number_hash" not in person
    assert len(data["contacts"]) == Contact.objects.filter(participant=demo).count()
    assert data["contacts"][0]["note"] == "Met at the café with his mother"
    assert len(data["spells"]) == Spell.objects.filter(participant=demo).count()
    assert len(data["assessments"]) == Assessment.objects.filter(visit__participant=demo).count()
    allocation = Allocation.objects.get(participant=demo)
    assert data["allocation"][0]["arm_name"] == allocation.arm.name
    assert len(data["exposures"]) == Exposure.objects.filter(participant=demo).count()
    assert {c["key"] for c in data["covariates"]} == set(demo.baseline)
    assert len(data["visits"]) == demo.visits.count()
    actions = {e["action"] for e in data["audit_events"]}
    assert {"participant.created", "assessment.created"} <= actions
    # One CSV per section, readable, the number only in the participant's own file.
    files = sorted(p.name for p in tmp_path.iterdir())
    assert f"{T}-{demo.study_id}-contacts.csv" in files
    assert f"{T}-{demo.study_id}-audit_events.csv" in files
    with (tmp_path / f"{T}-{demo.study_id}-participant.csv").open() as handle:
        assert next(csv.DictReader(handle))["personal_number"] == number
    # The run is audited, without the number.
    event = AuditEvent.objects.get(action="participant.exported")
    assert event.actor_name == "coordinator" and event.target_id == str(demo.pk)
    assert number not in json.dumps(event.data)


def test_export_holds_the_history_of_assessments_entered_before_the_generic_store(
    demo: Participant,
) -> None:
    """Assessments moved into the generic store kept their ids (instruments/0002); their
    earlier events name ``trial.assessment`` and are part of the participant's history."""
    assessment = Assessment.objects.filter(visit__participant=demo).first()
    assert assessment is not None
    old = AuditEvent.objects.create(
        trial=demo.trial,
        actor_name="caseworker",
        action="assessment.created",
        target_type="trial.assessment",
        target_id=str(assessment.pk),
        target_repr=str(assessment.visit),
    )
    events = collect_participant_data(demo)["audit_events"]
    assert old.pk in [e["id"] for e in events]
    assert old in assessment.audit_events()


def test_export_csvs_neutralise_formulas(demo: Participant, tmp_path: Path) -> None:
    Contact.objects.filter(participant=demo).update(note="=cmd|' /C calc'!A0")
    call_command(
        "export_participant", T, demo.study_id, "--out", str(tmp_path), "--by", "coordinator"
    )
    with (tmp_path / f"{T}-{demo.study_id}-contacts.csv").open(newline="") as handle:
        contacts = list(csv.DictReader(handle))
    assert {row["note"] for row in contacts} == {"'=cmd|' /C calc'!A0"}
    assert all(row["minutes"].isdigit() for row in contacts)  # numbers stay numbers
    # The JSON file keeps the note as it was: it is no spreadsheet.
    assert read_export(tmp_path, demo)["contacts"][0]["note"] == "=cmd|' /C calc'!A0"
    for path in tmp_path.glob("*.csv"):
        with path.open(newline="") as handle:
            cells = [cell for row in csv.reader(handle) for cell in row]
        assert not [c for c in cells if c.startswith(("=", "+", "@"))], path.name


def test_erasure_needs_a_withdrawal_that_allows_it(demo: Participant) -> None:
    args = [T, demo.study_id, "--reason", "Request 2026-14", "--by", "coordinator"]
    with pytest.raises(CommandError, match="has not withdrawn"):
        call_command("erase_participant", *args)
    withdraw_participant(
        demo,
        withdrawn_on=timezone.localdate(),
        scope=Withdrawal.Scope.NO_CONTACT,
        reason="Moved",
        actor=None,
    )
    with pytest.raises(CommandError, match="does not allow removing data"):
        call_command("erase_participant", *args)
    with pytest.raises(CommandError, match="has no participant"):
        call_command("erase_participant", T, "NOPE-1", "--reason", "x", "--by", "coordinator")
    with pytest.raises(CommandError, match="No active user"):
        call_command("erase_participant", *args[:-1], "nobody")
    assert Participant.objects.get(pk=demo.pk).personal_number_hash == demo.personal_number_hash
    assert not AuditEvent.objects.filter(action="participant.erased").exists()


def test_erasure_removes_personal_data_and_keeps_allocation_and_counts(
    demo: Participant, tmp_path: Path
) -> None:
    withdraw_participant(
        demo,
        withdrawn_on=timezone.localdate(),
        scope=Withdrawal.Scope.REMOVE_DATA,
        reason="Asked for everything to be deleted; said his mother would call",
        actor=None,
    )
    trial = demo.trial
    before = participants_frame(trial, timezone.localdate())
    contacts = Contact.objects.filter(participant=demo).count()
    # An answer to the contamination question, kept on the visit.
    demo.visits.filter(completed_on__isnull=False).update(contamination_reported=False)
    args = [T, demo.study_id, "--reason", "Request 2026-14", "--by", "coordinator"]

    dry = io.StringIO()
    call_command("erase_participant", *args, "--dry-run", stdout=dry)
    assert "Would erase" in dry.getvalue()
    assert Spell.objects.filter(participant=demo).exists()  # nothing changed

    out = io.StringIO()
    call_command("erase_participant", *args, stdout=out)
    assert "Erased" in out.getvalue()
    person = Participant.objects.get(pk=demo.pk)
    assert person.personal_number_encrypted == "" and person.personal_number_hash is None
    assert person.baseline == {}
    assert person.study_id == demo.study_id and person.status == Participant.Status.WITHDRAWN
    assert not Assessment.objects.filter(visit__participant=person).exists()
    assert not person.visits.filter(contamination_reported__isnull=False).exists()
    assert not person.visits.filter(completed_on__isnull=False).exists()
    assert not Spell.objects.filter(participant=person).exists()
    assert Contact.objects.filter(participant=person).count() == contacts  # dose and reach
    assert not Contact.objects.filter(participant=person).exclude(note="").exists()
    assert not Exposure.objects.filter(participant=person).exclude(note="").exists()
    assert Withdrawal.objects.get(participant=person).reason == ""
    assert Withdrawal.objects.get(participant=person).scope == Withdrawal.Scope.REMOVE_DATA

    # The allocation stands and the chain still verifies.
    assert Allocation.objects.filter(participant=person).exists()
    verified = io.StringIO()
    call_command("verify_allocations", T, stdout=verified)
    assert "verified" in verified.getvalue()
    # CONSORT still counts them as randomised and withdrawn.
    after = participants_frame(trial, timezone.localdate())
    assert len(after) == len(before)
    assert int(after["withdrawn"].sum()) == int(before["withdrawn"].sum())
    assert sorted(after["study_id"]) == sorted(before["study_id"])

    event = AuditEvent.objects.get(action="participant.erased")
    assert event.actor_name == "coordinator" and event.data["reason"] == "Request 2026-14"
    assert event.data["counts"]["spells"] > 0

    # Nothing identifying is left to export; a second erasure is refused.
    call_command(
        "export_participant",
        T,
        demo.study_id,
        "--out",
        str(tmp_path),
        "--by",
        "coordinator",
        stdout=io.StringIO(),
    )
    exported = read_export(tmp_path, demo)
    assert exported["participant"]["personal_number"] == ""
    assert exported["spells"] == [] and exported["assessments"] == []
    with pytest.raises(CommandError, match="already been erased"):
        call_command("erase_participant", *args)
