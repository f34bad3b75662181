"""The data dictionary pages and API: who may read and import, the preview, the confirmation,
the download, and both languages."""

from __future__ import annotations

import re

from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from instruments.dictionary import csvio
from instruments.models import Instrument
from instruments.setup.services import default_instrument
from tests.conftest import World, api_token
from tests.instruments.dictionaries import DEMOGRAPHICS, PHQ9_FORM, fixed, redcap_file
from trial.models import AuditEvent

PAGE = "/trials/ips/dictionary/"
IMPORT = "/trials/ips/dictionary/import/"
API = "/api/v1/trials/ips/dictionary/"


def upload(text: str, name: str = "dictionary.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def test_every_member_reads_the_dictionary_and_an_outsider_gets_404(world: World) -> None:
    default_instrument(world.trial)
    page = world.client("caseworker").get(PAGE)
    assert page.status_code == 200
    html = page.content.decode()
    assert "in_paid_work" in html and "Employment and benefits" in html
    assert IMPORT not in html  # a caseworker may not import
    assert world.client("coordinator").get(PAGE).content.decode().count(IMPORT) == 1
    # Importing a dictionary defines instruments: data managers may, as they may define them.
    assert world.client("datamanager").get(PAGE).content.decode().count(IMPORT) == 1
    assert world.client("datamanager").get(IMPORT).status_code == 200
    assert world.client("outsider").get(PAGE).status_code == 404
    assert world.client("outsider").get(IMPORT).status_code == 404


def test_the_page_speaks_norwegian(world: World) -> None:
    default_instrument(world.trial)
    client = world.client("coordinator")
    page = client.get(PAGE, headers={"accept-language": "nb"})
    html = page.content.decode()
    assert "Dataordbok" in html
    assert "I lønnet arbeid" in html and "Arbeid og ytelser" in html
    assert "binær" in html


def test_the_download_is_our_dictionary_file(world: World) -> None:
    default_instrument(world.trial)
    response = world.client("monitor").get(PAGE + "download/")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="ips-dictionary.csv"' in response["Content-Disposition"]
    assert response.content.decode() == csvio.write_dictionary(world.trial)


def downloads(world: World) -> list[tuple[str, dict[str, object]]]:
    events = AuditEvent.objects.filter(trial=world.trial, action="dictionary.downloaded")
    return [(event.actor_name, event.data) for event in events.order_by("pk")]


def test_each_download_is_in_the_audit_trail_with_who_the_trial_and_the_format(
    world: World,
) -> None:
    default_instrument(world.trial)
    rows = len(csvio.dictionary_rows(world.trial))
    client = world.client("monitor")
    assert client.get(PAGE).status_code == 200
    assert downloads(world) == []  # reading the page is not a download
    assert client.get(PAGE + "download/").status_code == 200
    assert client.get(PAGE + "download/").status_code == 200
    data = {"format": "own", "file": "ips-dictionary.csv", "variables": rows, "via": "web"}
    assert downloads(world) == [("monitor", data), ("monitor", data)]
    event = AuditEvent.objects.filter(action="dictionary.downloaded").first()
    assert event is not None
    assert (event.target_type, event.target_id) == ("trial.trial", str(world.trial.pk))
    assert world.client("outsider").get(PAGE + "download/").status_code == 404
    assert len(downloads(world)) == 2


def test_a_download_through_the_api_is_audited_and_its_json_is_not(world: World) -> None:
    default_instrument(world.trial)
    client = api(world, "statistician")
    assert client.get(API).status_code == 200
    assert downloads(world) == []
    assert client.get(API + "?format=csv").status_code == 200
    assert client.get(API, HTTP_ACCEPT="text/csv").status_code == 200
    rows = len(csvio.dictionary_rows(world.trial))
    data = {"format": "own", "file": "ips-dictionary.csv", "variables": rows, "via": "api"}
    assert downloads(world) == [("statistician", data), ("statistician", data)]
    assert api(world, "outsider").get(API + "?format=csv").status_code == 404
    assert len(downloads(world)) == 2


def test_a_caseworker_may_not_import(world: World) -> None:
    client = world.client("caseworker")
    assert client.get(IMPORT).status_code == 403
    response = client.post(IMPORT, {"file": upload(redcap_file(fixed())), "file_format": "redcap"})
    assert response.status_code == 403
    assert not Instrument.objects.filter(trial=world.trial).exists()


def test_the_preview_lists_every_problem_and_writes_nothing(world: World) -> None:
    client = world.client("coordinator")
    text = redcap_file(DEMOGRAPHICS + PHQ9_FORM)
    response = client.post(IMPORT, {"file": upload(text), "file_format": "redcap"})

    assert response.status_code == 200
    html = response.content.decode()
    assert "The file cannot be imported" in html
    assert "Calculated fields are not supported; define a scale instead." in html
    assert "Identifier?" in html and "Branching Logic (Show field only if...)" in html
    assert 'name="token"' not in html
    assert "A descriptive field only shows text: it is skipped." in html
    assert not Instrument.objects.filter(trial=world.trial).exists()


def test_preview_then_confirm_imports_the_file(world: World) -> None:
    client = world.client("coordinator")
    response = client.post(IMPORT, {"file": upload(redcap_file(fixed())), "file_format": "redcap"})
    html = response.content.decode()
    assert "What the import will do" in html
    assert "put in both English and Norwegian" in html
    assert not Instrument.objects.filter(trial=world.trial).exists()
    token = re.search(r'name="token" value="([^"]+)"', html)
    assert token is not None

    done = client.post(IMPORT, {"token": token.group(1)})

    assert done.status_code == 302 and done["Location"] == PAGE
    codes = set(Instrument.objects.filter(trial=world.trial).values_list("code", flat=True))
    assert codes == {"demographics", "phq9"}
    page = client.get(PAGE).content.decode()
    assert "Dictionary imported: 2 instruments created" in page


def test_a_tampered_or_foreign_token_is_refused(world: World) -> None:
    client = world.client("coordinator")
    response = client.post(IMPORT, {"token": "forged"})
    assert response.status_code == 302 and response["Location"] == IMPORT
    assert not Instrument.objects.filter(trial=world.trial).exists()


def test_an_upload_without_a_file_shows_the_form_again(world: World) -> None:
    response = world.client("coordinator").post(IMPORT, {"file_format": "own"})
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()


# --- API --------------------------------------------------------------------------------------


def api(world: World, persona: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(world.users[persona])}")
    return client


def test_the_api_gives_the_dictionary_as_json_and_csv(world: World) -> None:
    default_instrument(world.trial)
    client = api(world, "caseworker")

    body = client.get(API).json()
    work = body["variables"][0]
    assert work["name"] == "in_paid_work"
    assert work["label"] == {"en": "In paid work", "nb": "I lønnet arbeid"}
    assert (work["kind"], work["type"]) == ("binary", "yesno")
    assert work["value_labels"]["1"] == {"en": "Yes", "nb": "Ja"}

    response = client.get(API + "?format=csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response.content.decode() == csvio.write_dictionary(world.trial)
    assert client.get(API, HTTP_ACCEPT="text/csv").content.decode().startswith("variable,")


def test_api_errors_are_json_even_when_csv_was_asked_for(world: World) -> None:
    response = api(world, "outsider").get(API + "?format=csv")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_the_api_imports_a_file(world: World) -> None:
    client = api(world, "coordinator")
    response = client.post(
        API, {"file": upload(redcap_file(fixed())), "file_format": "redcap"}, format="multipart"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert [(i["code"], i["action"]) for i in body["instruments"]] == [
        ("demographics", "created"),
        ("phq9", "created"),
    ]
    assert body["applied"] is True
    assert body["warnings"][0] == {
        "row": 2,
        "column": "Variable / Field Name",
        "message": body["warnings"][0]["message"],
    }


def test_the_api_refuses_a_bad_file_with_rows(world: World) -> None:
    client = api(world, "coordinator")
    response = client.post(
        API,
        {"file": upload(redcap_file(DEMOGRAPHICS + PHQ9_FORM)), "file_format": "redcap"},
        format="multipart",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert {
        "row": 11,
        "column": "Field Type",
        "message": ("Calculated fields are not supported; define a scale instead."),
    } in body["rows"]
    assert "Row 11, Field Type: Calculated fields" in " ".join(body["errors"]["file"])
    assert not Instrument.objects.filter(trial=world.trial).exists()


def test_the_api_import_needs_the_right_to_configure(world: World) -> None:
    text = redcap_file(fixed())
    response = api(world, "caseworker").post(
        API, {"file": upload(text), "file_format": "redcap"}, format="multipart"
    )
    assert response.status_code == 403
    response = api(world, "outsider").post(
        API, {"file": upload(text), "file_format": "redcap"}, format="multipart"
    )
    assert response.status_code == 404
    assert not Instrument.objects.filter(trial=world.trial).exists()


def test_the_api_takes_the_file_as_json_text_too(world: World) -> None:
    client = api(world, "coordinator")
    text = "variable,instrument,type,label_en,label_nb\nworks,job,yesno,Works,Jobber\n"

    refused = client.post(API, {"content": text.replace("yesno", "slider")}, format="json")
    assert refused.status_code == 400
    assert refused.json()["rows"][0]["column"] == "type"
    assert "Row 2, type:" in refused.json()["errors"]["content"][0]

    response = client.post(API, {"content": text, "file_format": "own"}, format="json")
    assert response.status_code == 201
    assert response.json()["instruments"][0]["code"] == "job"
    item = Instrument.objects.get(trial=world.trial, code="job").current_version().parsed.items[0]
    assert (item.label.en, item.label.nb) == ("Works", "Jobber")
