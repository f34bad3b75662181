"""Register imports: validation with line numbers, the decision to import, idempotency, the
audit trail, flags for equal-priority overlaps, cache invalidation, and the command line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pathways import checking, importing, services
from pathways.models import PathwaySettings, PendingSpell, QualityFlag, Spell, SpellImport
from pathways.services import PathwayError
from tests import factories
from tests.conftest import World
from tests.pathways.helpers import Scene, check, csv_bytes, import_file, make_scene
from trial import jobs, personal_numbers
from trial.models import AuditEvent


@pytest.fixture
def scene(world: World) -> Scene:
    return make_scene(world)


def kinds(spell_import: SpellImport) -> list[tuple[int, str, str]]:
    return [(e["line"], e["column"], e["kind"]) for e in spell_import.errors]


def test_a_valid_file_is_checked_then_imported_and_audited(scene: Scene) -> None:
    data = csv_bytes(
        [
            [scene.a.study_id, "aap", "2024-06-01", "2025-05-14", "", ""],
            [scene.a.study_id, "work", "2025-05-15", "", "A-ordningen", "5223"],
            [scene.b.study_id, "education", "2025-08-15", "2026-06-20", "NUDB", ""],
        ]
    )
    version = services.settings_for(scene.world.trial).version
    spell_import = check(scene, data)
    assert spell_import.status == SpellImport.Status.CHECKED
    assert (spell_import.rows_total, spell_import.rows_valid, spell_import.rows_invalid) == (
        3,
        3,
        0,
    )
    assert spell_import.rows_new == 3
    assert not Spell.objects.exists()  # nothing written before the decision
    assert PendingSpell.objects.filter(spell_import=spell_import).count() == 3

    importing.confirm_import(
        spell_import, skip_invalid=False, actor=scene.world.users["datamanager"]
    )
    assert importing.execute_apply(spell_import.pk) == SpellImport.Status.DONE
    spell_import.refresh_from_db()
    assert spell_import.rows_written == 3 and spell_import.imported_at is not None
    assert not PendingSpell.objects.exists()
    spells = {(s.participant_id, s.state.code): s for s in Spell.objects.select_related("state")}
    assert spells[(scene.a.pk, "aap")].source == "FD-Trygd"  # the upload's default source
    assert spells[(scene.a.pk, "work")].ends_on is None
    assert spells[(scene.a.pk, "work")].detail == "5223"
    assert services.settings_for(scene.world.trial).version != version
    event = AuditEvent.objects.get(action="spells.imported")
    assert event.actor == scene.world.users["datamanager"]
    assert event.data["written"] == 3 and event.data["rejected"] == 0
    assert event.data["file_sha256"] == spell_import.file_sha256
    assert AuditEvent.objects.filter(action="spellimport.uploaded").count() == 1


def test_every_kind_of_bad_row_is_reported_with_its_line(scene: Scene) -> None:
    a = scene.a.study_id
    data = csv_bytes(
        [
            [a, "aap", "2025-01-01", "2025-06-30", "", ""],  # 2: valid
            ["NOPE-1", "aap", "2025-01-01", "", "", ""],  # 3: unknown person
            [a, "holiday", "2025-01-01", "", "", ""],  # 4: unknown state
            [a, "work", "2025-09-01", "2025-08-01", "", ""],  # 5: end before start
            [a, "work", "2027-03-01", "", "", ""],  # 6: after the window (ends 2027-02-28)
            [a, "work", "2024-01-01", "2025-03-02", "", ""],  # 7: ends the day before month 1
            [a, "work", "2025-13-01", "", "", ""],  # 8: not a date
            [a, "work", "2025-07-01", "", "", "9999"],  # 9: occupation that does not exist
            [a, "aap", "2025-01-01", "2025-07-31", "", ""],  # 10: same key as line 2
            [a, "", "2025-01-01", "", "", ""],  # 11: state missing
            [a, "education", "2025-07-01", "", "x" * 61, ""],  # 12: source too long
        ]
    )
    spell_import = check(scene, data)
    assert kinds(spell_import) == [
        (3, "study_id", "unknown_study_id"),
        (4, "state", "unknown_state"),
        (5, "end_date", "end_before_start"),
        (6, "start_date", "outside_window"),
        (7, "start_date", "outside_window"),
        (8, "start_date", "bad_date"),
        (9, "detail", "unknown_occupation"),
        (10, "start_date", "duplicate"),
        (11, "state", "required"),
        (12, "source", "too_long"),
    ]
    assert (spell_import.rows_total, spell_import.rows_valid, spell_import.rows_invalid) == (
        11,
        1,
        10,
    )
    errors = {e["line"]: checking.message(e["kind"], e["params"]) for e in spell_import.errors}
    assert errors[9] == "Occupation code 9999 does not exist in STYRK-08."
    assert errors[10] == "The same person, state, start date and source as line 2."
    assert errors[6] == (
        "The spell lies outside the participant's follow-up window, 2025-03-03 to 2027-02-28."
    )
    assert "holiday" in errors[4] and "work" in errors[4]

    # Nothing is written unless the data manager accepts that the bad rows are skipped.
    with pytest.raises(PathwayError, match="accept"):
        importing.confirm_import(
            spell_import, skip_invalid=False, actor=scene.world.users["datamanager"]
        )
    assert not Spell.objects.exists()
    importing.confirm_import(
        spell_import, skip_invalid=True, actor=scene.world.users["datamanager"]
    )
    assert importing.execute_apply(spell_import.pk) == SpellImport.Status.DONE
    [spell] = Spell.objects.all()
    assert (spell.state.code, spell.starts_on) == ("aap", dt.date(2025, 1, 1))
    spell_import.refresh_from_db()
    assert (spell_import.rows_accepted, spell_import.rows_rejected) == (1, 10)
    assert AuditEvent.objects.get(action="spells.imported").data["skip_invalid"] is True


def test_unrandomised_participants_count_their_window_from_enrolment(scene: Scene) -> None:
    # Enrolled 2025-03-01: window to 2027-02-28; a spell ending 2025-02-28 misses it.
    u = scene.unrandomised.study_id
    data = csv_bytes(
        [[u, "aap", "2025-01-01", "2025-02-28", "", ""], [u, "aap", "2025-03-01", "", "", ""]]
    )
    assert kinds(check(scene, data)) == [(2, "start_date", "outside_window")]


def test_rows_keyed_by_personal_number_never_echo_the_number(scene: Scene) -> None:
    number = personal_numbers.decrypt(scene.a.personal_number_encrypted)
    broken = number[:10] + str((int(number[10]) + 1) % 10)  # wrong check digit
    stranger = factories.personal_number()  # valid, but nobody in the trial
    header = ["personal_number", "state", "start_date"]
    data = csv_bytes(
        [
            [f"{number[:6]} {number[6:]}", "aap", "2025-04-01"],  # spaces are allowed
            [broken, "aap", "2025-04-01"],
            ["123", "aap", "2025-04-01"],
            [stranger, "aap", "2025-04-01"],
        ],
        header=header,
    )
    spell_import = check(scene, data)
    assert kinds(spell_import) == [
        (3, "personal_number", "invalid_personal_number"),
        (4, "personal_number", "invalid_personal_number"),
        (5, "personal_number", "unknown_personal_number"),
    ]
    assert spell_import.rows_valid == 1
    stored = str(spell_import.errors) + str(spell_import.error_counts)
    for secret in (number, broken, stranger):
        assert secret not in stored
    pending = PendingSpell.objects.get(spell_import=spell_import)
    assert pending.participant_id == scene.a.pk
    events = str(list(AuditEvent.objects.values_list("data", flat=True)))
    assert number not in events and stranger not in events


def test_reimporting_the_same_file_changes_nothing(scene: Scene) -> None:
    data = csv_bytes(
        [
            [scene.a.study_id, "aap", "2024-06-01", "", "", ""],
            [scene.c.study_id, "work", "2025-04-01", "2025-12-31", "", "4110"],
        ]
    )
    first = import_file(scene, data)
    assert first.rows_written == 2
    version = services.settings_for(scene.world.trial).version
    ids = sorted(Spell.objects.values_list("id", "ends_on", "spell_import_id"))

    again = check(scene, data)
    assert (again.rows_new, again.rows_changed, again.rows_unchanged) == (0, 0, 2)
    importing.confirm_import(again, skip_invalid=False, actor=scene.world.users["datamanager"])
    importing.execute_apply(again.pk)
    again.refresh_from_db()
    assert again.status == SpellImport.Status.DONE and again.rows_written == 0
    assert sorted(Spell.objects.values_list("id", "ends_on", "spell_import_id")) == ids
    assert services.settings_for(scene.world.trial).version == version
    assert again.file_sha256 == first.file_sha256


def test_a_later_delivery_closes_an_open_spell_instead_of_adding_one(scene: Scene) -> None:
    import_file(scene, csv_bytes([[scene.a.study_id, "aap", "2024-06-01", "", "", ""]]))
    closed = csv_bytes([[scene.a.study_id, "aap", "2024-06-01", "2025-09-30", "", ""]])
    spell_import = check(scene, closed)
    assert (spell_import.rows_new, spell_import.rows_changed) == (0, 1)
    importing.confirm_import(spell_import, skip_invalid=False, actor=None)
    importing.execute_apply(spell_import.pk)
    [spell] = Spell.objects.all()
    assert spell.ends_on == dt.date(2025, 9, 30) and spell.spell_import_id == spell_import.pk


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"study_id,start_date\nX,2025-01-01\n", [(1, "state", "missing_column")]),
        (
            b"study_id,personal_number,state,start_date\n",
            [(1, "", "identity_column")],
        ),
        (
            b"study_id,state,start_date,colour\nX,aap,2025-01-01,red\n",
            [(1, "colour", "unknown_column")],
        ),
        ("study_id,state\nÆ,aap\n".encode("latin-1"), [(0, "", "encoding")]),
        (b"", [(0, "", "file")]),
        (b"study_id,state,start_date\n,,\n", [(0, "", "empty")]),
    ],
)
def test_a_broken_file_is_refused_as_a_whole(
    scene: Scene, content: bytes, expected: list[tuple[int, str, str]]
) -> None:
    spell_import = check(scene, content)
    assert kinds(spell_import)[: len(expected)] == expected
    assert spell_import.rows_valid == 0
    with pytest.raises(PathwayError):
        importing.confirm_import(spell_import, skip_invalid=True, actor=None)


def test_blank_lines_keep_the_line_numbers_of_the_file(scene: Scene) -> None:
    data = (
        f"study_id,state,start_date\n{scene.a.study_id},aap,2025-04-01\n\n"
        f"{scene.a.study_id},nope,2025-04-01\n"
    ).encode()
    spell_import = check(scene, data)
    assert kinds(spell_import) == [(4, "state", "unknown_state")]
    assert spell_import.rows_total == 2


def test_cancelling_writes_nothing(scene: Scene) -> None:
    spell_import = check(scene, csv_bytes([[scene.a.study_id, "aap", "2025-04-01", "", "", ""]]))
    importing.cancel_import(spell_import, actor=scene.world.users["datamanager"])
    spell_import.refresh_from_db()
    assert spell_import.status == SpellImport.Status.CANCELLED
    assert not PendingSpell.objects.exists() and not Spell.objects.exists()
    with pytest.raises(PathwayError):
        importing.confirm_import(spell_import, skip_invalid=False, actor=None)
    assert AuditEvent.objects.filter(action="spellimport.cancelled").count() == 1


def test_jobs_run_twice_do_the_work_once(scene: Scene, settings: object) -> None:
    data = csv_bytes([[scene.a.study_id, "aap", "2025-04-01", "", "", ""]])
    settings.FILES_ROOT = Path(settings.FILES_ROOT)  # type: ignore[attr-defined]
    spell_import = importing.create_import(
        scene.world.trial, data=data, file_name="x.csv", default_source="r", actor=None
    )
    assert importing.upload_path(spell_import).exists()
    assert importing.upload_path(spell_import).read_bytes() != data  # kept encrypted
    assert importing.execute_check(spell_import.pk) == SpellImport.Status.CHECKED
    assert not importing.upload_path(spell_import).exists()
    assert importing.execute_check(spell_import.pk) == "skipped"
    importing.confirm_import(spell_import, skip_invalid=False, actor=None)
    assert importing.execute_apply(spell_import.pk) == SpellImport.Status.DONE
    assert importing.execute_apply(spell_import.pk) == "skipped"
    assert importing.execute_apply(spell_import.pk + 1000) == "missing"
    assert Spell.objects.count() == 1


def test_the_sweep_removes_a_file_whose_check_was_committed_but_not_cleaned_up(
    scene: Scene,
) -> None:
    data = csv_bytes([[scene.a.study_id, "aap", "2025-04-01", "", "", ""]])
    waiting, checked = (
        importing.create_import(
            scene.world.trial, data=data, file_name="x.csv", default_source="r", actor=None
        )
        for _ in range(2)
    )
    # As a worker leaves it that stops between committing the check and removing the file.
    SpellImport.objects.filter(pk=checked.pk).update(status=SpellImport.Status.CHECKED)
    assert jobs.sweep() == 0
    assert importing.upload_path(waiting).exists()  # still to be checked
    assert not importing.upload_path(checked).exists()


# --- equal priorities ------------------------------------------------------------------------


def test_overlapping_spells_of_equal_priority_are_flagged_not_fatal(scene: Scene) -> None:
    trial = scene.world.trial
    dm = scene.world.users["datamanager"]
    school = services.save_state(
        trial,
        actor=dm,
        code="school",
        label_en="School",
        label_nb="Skole",
        colour="#123456",
        priority=2,  # the same as education
        detail="text",
    )
    a = scene.a.study_id
    import_file(
        scene,
        csv_bytes(
            [
                [a, "education", "2025-04-01", "2025-06-30", "", ""],
                [a, "school", "2025-06-01", "", "", ""],
                [a, "school", "2025-08-01", "2025-08-10", "other", ""],  # same state: no flag
                [a, "aap", "2025-01-01", "", "", ""],  # other priority: no flag
            ]
        ),
    )
    [flag] = QualityFlag.objects.all()
    assert flag.participant == scene.a
    assert (flag.overlap_from, flag.overlap_until) == (dt.date(2025, 6, 1), dt.date(2025, 6, 30))
    assert {flag.spell.state.code, flag.other_spell.state.code} == {"education", "school"}
    # The sequence still builds: in June education comes first in the alphabet (priority 2,
    # then code); March is AAP only, July on school only.
    table = services.sequence_table(trial, today=dt.date(2026, 1, 1))
    row = table.values[table.row_of(scene.a.pk)]
    assert [table.code_at(v) for v in row[:6]] == [
        "aap",
        "education",
        "education",
        "education",
        "school",
        "school",
    ]

    services.review_flag(flag, note="school register is late", actor=dm)
    assert services.refresh_flags(trial) == 0  # reviewed, still true, kept with its note
    assert QualityFlag.objects.get().note == "school register is late"
    services.save_state(trial, actor=dm, state=school, priority=6)
    assert not QualityFlag.objects.exists()  # the tie is gone, and so is the flag
    assert AuditEvent.objects.filter(action="qualityflag.reviewed").count() == 1


def test_sequences_are_cached_and_rebuilt_when_spells_change(scene: Scene) -> None:
    trial = scene.world.trial
    today = dt.date(2026, 3, 1)  # months 1–13 observed (month 13 starts 2026-03-01)
    import_file(scene, csv_bytes([[scene.a.study_id, "aap", "2024-06-01", "", "", ""]]))
    table = services.sequence_table(trial, today=today)
    row = table.row_of(scene.a.pk)
    assert [table.code_at(v) for v in table.values[row]] == ["aap"] * 13 + [None] * 11
    randomised = sorted([scene.a, scene.b, scene.c, scene.d], key=lambda p: p.study_id)
    assert table.participant_ids.tolist() == [p.pk for p in randomised]
    # Cached: the second read does not load the spells (settings, states, participants only).
    # The queries are printed if not (CI once saw a fourth).
    with CaptureQueriesContext(connection) as second:
        services.sequence_table(trial, today=today)
    assert len(second) == 3, [query["sql"] for query in second.captured_queries]
    import_file(scene, csv_bytes([[scene.a.study_id, "work", "2025-05-10", "", "", ""]]))
    table = services.sequence_table(trial, today=today)
    assert [table.code_at(v) for v in table.values[row][:4]] == ["aap", "aap", "work", "work"]
    services.update_settings(trial, actor=None, month_rule=PathwaySettings.MonthRule.MAJORITY)
    table = services.sequence_table(trial, today=today)
    # May: work from the 10th (22 of 31 days) wins under the majority rule too; March is aap.
    assert [table.code_at(v) for v in table.values[row][:4]] == ["aap", "aap", "work", "work"]
    services.update_settings(trial, actor=None, follow_up_months=6)
    assert services.sequence_table(trial, today=today).months == 6


# --- the command line ----------------------------------------------------------------------


def test_import_spells_command(scene: Scene, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(
        csv_bytes(
            [
                [scene.a.study_id, "aap", "2025-04-01", "", "", ""],
                [scene.b.study_id, "work", "2025-04-01", "", "", "9999"],
            ]
        )
    )
    with pytest.raises(CommandError, match="1 with errors"):
        call_command("import_spells", str(bad), "--trial", "ips")
    assert not Spell.objects.exists()
    call_command("import_spells", str(bad), "--trial", "ips", "--skip-invalid")
    assert Spell.objects.count() == 1
    call_command("import_spells", str(bad), "--trial", "ips", "--skip-invalid")
    assert Spell.objects.count() == 1
    with pytest.raises(CommandError, match="may not import"):
        call_command("import_spells", str(bad), "--trial", "ips", "--user", "statistician")
    with pytest.raises(CommandError, match="no trial"):
        call_command("import_spells", str(bad), "--trial", "nope")


def test_a_nul_in_a_cell_is_an_error_on_its_line_not_a_failed_import(scene: Scene) -> None:
    a, b = scene.a.study_id, scene.b.study_id
    data = csv_bytes(
        [
            [a, "aap", "2025-01-01", "2025-06-30", "", ""],  # 2: valid
            [a, "work", "2025-07-01", "", "A-ordningen\x00", ""],  # 3: NUL in the source
            [b, "wo\x00rk", "2025-07-01", "", "", ""],  # 4: NUL in the state code
            [b + "\x00", "aap", "2025-01-01", "", "", ""],  # 5: NUL in the study id
        ]
    )
    spell_import = check(scene, data)
    assert spell_import.status == SpellImport.Status.CHECKED, spell_import.error
    assert (spell_import.rows_valid, spell_import.rows_invalid) == (1, 3)
    assert (3, "source", "bad_character") in kinds(spell_import)
    assert (4, "state", "bad_character") in kinds(spell_import)
    assert (5, "study_id", "bad_character") in kinds(spell_import)
    error = next(e for e in spell_import.errors if e["kind"] == "bad_character")
    message = checking.message("bad_character", error["params"])
    assert message == "Contains a character that is not allowed: NUL (U+0000)."
    spell_import = import_file(scene, data, skip_invalid=True)
    assert spell_import.rows_written == 1


def test_a_nul_in_the_header_is_a_readable_file_error(scene: Scene) -> None:
    data = csv_bytes([[scene.a.study_id, "aap", "2025-01-01", "", "", ""]])
    data = data.replace(b"state", b"st\x00ate", 1)
    spell_import = check(scene, data)
    assert spell_import.status == SpellImport.Status.CHECKED, spell_import.error
    assert (1, "st\ufffdate", "unknown_column") in kinds(spell_import)


def test_an_unexpected_failure_is_told_in_words_not_by_an_exception_name(scene: Scene) -> None:
    spell_import = importing.create_import(
        scene.world.trial,
        data=b"x",
        file_name="spells.csv",
        default_source="FD-Trygd",
        actor=scene.world.users["datamanager"],
    )
    importing.upload_path(spell_import).write_bytes(b"not encrypted")  # unreadable
    assert importing.execute_check(spell_import.pk) == SpellImport.Status.FAILED
    spell_import.refresh_from_db()
    assert spell_import.error.startswith("an unexpected error, which has been logged")
    assert "InvalidToken" not in spell_import.error
