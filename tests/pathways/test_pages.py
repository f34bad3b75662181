"""The pathways pages and API: access by role, blinding, site scope, and the happy paths."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client

from pathways import services
from pathways.models import QualityFlag, SpellImport, SpellState
from tests.conftest import World, clear_cache
from tests.pathways.helpers import Scene, csv_bytes, import_file, make_scene
from trial.models import AuditEvent

BASE = "/trials/ips/pathways/"
API = "/api/v1/trials/ips/pathways/"


@pytest.fixture
def scene(world: World) -> Scene:
    clear_cache()
    scene = make_scene(world)
    import_file(
        scene,
        csv_bytes(
            [
                [scene.a.study_id, "aap", "2024-06-01", "2025-05-31", "", ""],
                [scene.a.study_id, "work", "2025-06-01", "", "A-ordningen", "5223"],
                [scene.b.study_id, "aap", "2024-06-01", "", "", ""],
                [scene.c.study_id, "education", "2025-03-10", "", "NUDB", ""],
                [scene.d.study_id, "health", "2025-03-03", "2025-03-20", "KPR", ""],
            ]
        ),
    )
    return scene


def text(response: object) -> str:
    return re.sub(r"\s+", " ", response.content.decode())  # type: ignore[attr-defined]


def plain(response: object) -> str:
    """The page's text without markup."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", text(response)))


@pytest.mark.parametrize(
    "path",
    ["", "import/", "imports/", "flags/", "alphabet/", "imports/1/"],
)
def test_outsider_gets_404(scene: Scene, path: str) -> None:
    assert scene.world.client("outsider").get(BASE + path).status_code == 404


@pytest.mark.parametrize("persona", ["caseworker", "statistician", "monitor", "reviewer"])
def test_only_importers_reach_the_import_pages(scene: Scene, persona: str) -> None:
    client = scene.world.client(persona)
    for path in ("import/", "alphabet/", "flags/", "imports/"):
        assert client.get(BASE + path).status_code == 403
    assert client.post(BASE + "alphabet/standard/").status_code == 403


def test_overview_splits_by_arm_for_those_who_know_the_arms(scene: Scene) -> None:
    response = scene.world.client("coordinator").get(BASE)
    page = plain(response)
    assert "A – Intervention (2 participants)" in page
    assert "B – Usual services (2 participants)" in page
    assert "<svg" in text(response) and 'fill="#2e7d32"' in text(response)  # work's colour
    assert "Index plot of 2 sequences" in page


def test_blinded_statistician_sees_everyone_together(scene: Scene) -> None:
    page = plain(scene.world.client("statistician").get(BASE))
    assert "All participants (4 participants)" in page
    assert "Intervention" not in page and "Usual services" not in page
    assert "A –" not in page
    unblinded = plain(scene.world.client("unblinded").get(BASE))
    assert "A – Intervention" in unblinded


def test_caseworker_sees_only_their_sites(scene: Scene) -> None:
    page = plain(scene.world.client("caseworker").get(BASE))  # site OSLA: a (A) and b (B)
    assert "A – Intervention (1 participant)" in page
    assert "B – Usual services (1 participant)" in page


def test_participant_page_shows_the_strip(scene: Scene) -> None:
    url = f"/trials/ips/participants/{scene.a.study_id}/"
    page = text(scene.world.client("caseworker").get(url))
    assert "Pathway" in page and "2 register spells" in page
    assert 'fill="#ef8f00"' in page and 'fill="#2e7d32"' in page  # AAP, then work
    assert "Months 1–3: Work assessment allowance" in page
    assert "Months 4–" in page and ": Work" in page


def test_upload_with_errors_then_skip_the_bad_rows(scene: Scene) -> None:
    client = scene.world.client("datamanager")
    data = csv_bytes(
        [
            [scene.c.study_id, "work", "2025-09-01", "", "", "4110"],
            [scene.c.study_id, "work", "2025-10-01", "", "", "9999"],
        ]
    )
    response = client.post(
        BASE + "import/",
        {"file": _upload(data), "source": "A-ordningen"},
    )
    assert response.status_code == 302
    page = text(client.get(response["Location"]))
    assert "1 row has errors" in page
    assert "Occupation code 9999 does not exist in STYRK-08." in page
    assert '<td class="num">3</td>' in page  # the line
    spell_import = SpellImport.objects.latest("pk")
    refused = client.post(BASE + f"imports/{spell_import.pk}/confirm/", {})
    assert refused.status_code == 400 and "accept that the rows with errors" in text(refused)
    done = client.post(BASE + f"imports/{spell_import.pk}/confirm/", {"skip_invalid": "on"})
    assert done.status_code == 302
    page = text(client.get(done["Location"]))
    assert "Imported: 1 rows accepted, 1 rejected; 1 spells new or changed." in page
    history = text(client.get(BASE + "imports/"))
    assert "spells.csv" in history and spell_import.file_sha256[:12] in history


def _upload(data: bytes, name: str = "spells.csv") -> object:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="text/csv")


def test_alphabet_editing(scene: Scene) -> None:
    client = scene.world.client("datamanager")
    bad = client.post(
        BASE + "alphabet/",
        {
            "code": "work",
            "label_en": "x",
            "label_nb": "x",
            "colour": "red",
            "priority": 1,
            "detail": "text",
        },
    )
    assert bad.status_code == 400
    assert "Write the colour as #RRGGBB." in text(bad)
    duplicate = client.post(
        BASE + "alphabet/",
        {
            "code": "work",
            "label_en": "x",
            "label_nb": "x",
            "colour": "#000000",
            "priority": 1,
            "detail": "text",
        },
    )
    assert duplicate.status_code == 400 and "has a state with this code already" in text(duplicate)
    ok = client.post(
        BASE + "alphabet/",
        {
            "code": "sickness",
            "label_en": "Sickness benefit",
            "label_nb": "Sykepenger",
            "colour": "#00897b",
            "priority": 3,
            "detail": "text",
        },
    )
    assert ok.status_code == 302
    state = SpellState.objects.get(code="sickness")
    edit = client.post(
        BASE + f"alphabet/{state.pk}/",
        {
            "code": "sickness",
            "label_en": "Sickness benefit",
            "label_nb": "Sykepenger",
            "colour": "#00897b",
            "priority": 7,
            "detail": "text",
        },
    )
    assert edit.status_code == 302
    state.refresh_from_db()
    assert state.priority == 7
    assert AuditEvent.objects.filter(action="spellstate.changed").exists()
    work = SpellState.objects.get(code="work")
    client.post(BASE + f"alphabet/{work.pk}/delete/")
    assert SpellState.objects.filter(code="work").exists()  # spells use it
    client.post(BASE + f"alphabet/{state.pk}/delete/")
    assert not SpellState.objects.filter(code="sickness").exists()


def test_sequence_settings(scene: Scene) -> None:
    client = scene.world.client("coordinator")
    form = {"origin": "calendar", "follow_up_months": 12, "month_rule": "majority"}
    refused = client.post(BASE + "settings/", form)
    assert refused.status_code == 400
    ok = client.post(BASE + "settings/", {**form, "calendar_start": "2025-01-17"})
    assert ok.status_code == 302
    current = services.settings_for(scene.world.trial)
    assert current.calendar_start == dt.date(2025, 1, 1) and current.follow_up_months == 12
    table = services.sequence_table(scene.world.trial, today=dt.date(2026, 6, 1))
    assert table.values.shape == (6, 12)  # every participant from January 2025
    assert table.code_at(table.values[table.row_of(scene.c.pk)][2]) == "education"  # March


def test_flags_page_and_review(scene: Scene) -> None:
    trial = scene.world.trial
    services.save_state(
        trial,
        actor=None,
        code="school",
        label_en="School",
        label_nb="Skole",
        colour="#123456",
        priority=5,
        detail="text",
    )  # same priority as health care
    import_file(scene, csv_bytes([[scene.d.study_id, "school", "2025-03-15", "", "", ""]]))
    client = scene.world.client("datamanager")
    page = text(client.get(BASE + "flags/"))
    assert scene.d.study_id in page and "2025-03-15 – 2025-03-20" in page
    flag = QualityFlag.objects.get()
    client.post(BASE + f"flags/{flag.pk}/review/", {"note": "checked with KPR"})
    flag.refresh_from_db()
    assert flag.reviewed_at and flag.note == "checked with KPR"
    assert scene.d.study_id not in text(client.get(BASE + "flags/"))
    assert "checked with KPR" in text(client.get(BASE + "flags/?show=all"))


# --- API -----------------------------------------------------------------------------------


def api(scene: Scene, persona: str, path: str) -> object:
    client: Client = scene.world.client(persona)
    return client.get(API + path)


def test_api_states_in_precedence_order(scene: Scene) -> None:
    response = api(scene, "reviewer", "states/")
    assert [s["code"] for s in response.json()] == [  # type: ignore[attr-defined]
        "work",
        "education",
        "aap",
        "disability",
        "health",
    ]
    assert api(scene, "outsider", "states/").status_code == 404  # type: ignore[attr-defined]


def test_api_spells_respect_sites(scene: Scene) -> None:
    everyone = api(scene, "coordinator", "spells/").json()["results"]  # type: ignore[attr-defined]
    assert len(everyone) == 5
    mine = api(scene, "caseworker", "spells/").json()["results"]  # type: ignore[attr-defined]
    assert {s["study_id"] for s in mine} == {scene.a.study_id, scene.b.study_id}
    one = api(scene, "coordinator", f"spells/?study_id={scene.a.study_id}&state=work").json()  # type: ignore[attr-defined]
    assert one["results"] == [
        {
            "study_id": scene.a.study_id,
            "state": "work",
            "starts_on": "2025-06-01",
            "ends_on": None,
            "source": "A-ordningen",
            "detail": "5223",
        }
    ]
    assert api(scene, "reviewer", "spells/").status_code == 403  # type: ignore[attr-defined]


def test_api_sequences_as_a_participant_by_month_table(scene: Scene) -> None:
    services.update_settings(scene.world.trial, actor=None, data_until=dt.date(2025, 8, 31))
    body = api(scene, "coordinator", "sequences/").json()  # type: ignore[attr-defined]
    assert body["months"] == 24 and body["count"] == 4 and body["month_rule"] == "priority"
    rows = {r["study_id"]: r for r in body["results"]}
    a = rows[scene.a.study_id]
    assert a["arm"] == "A" and a["starts_on"] == "2025-03-03"
    assert a["states"][:7] == ["aap", "aap", "aap", "work", "work", "work", None]
    d = rows[scene.d.study_id]["states"]
    assert d[:3] == ["health", "", ""]
    blinded = api(scene, "statistician", "sequences/").json()  # type: ignore[attr-defined]
    assert all("arm" not in r for r in blinded["results"])
    mine = api(scene, "caseworker", "sequences/").json()  # type: ignore[attr-defined]
    assert {r["study_id"] for r in mine["results"]} == {scene.a.study_id, scene.b.study_id}
    assert api(scene, "outsider", "sequences/").status_code == 404  # type: ignore[attr-defined]
