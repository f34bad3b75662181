"""One error body for the whole API: {"detail", "code"}, plus "errors" by field on a 400."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework import exceptions

from config.api import exception_handler
from tests import factories
from tests.conftest import World, api_token
from trial.models import CovariateDefinition


def post(client: Client, url: str, data: Any) -> Any:
    return client.post(url, data, content_type="application/json")


def enrolment(**overrides: Any) -> dict[str, Any]:
    return {
        "site": "OSLA",
        "personal_number": factories.personal_number(),
        "enrolled_on": "2025-02-01",
        "consent_version": "2.0",
        "consent_date": "2025-02-01",
        **overrides,
    }


def test_refused_input_lists_the_errors_of_each_field(world: World) -> None:
    CovariateDefinition.objects.create(
        trial=world.trial, key="age", label="Age", kind="integer", min_value=16, max_value=67
    )
    client = world.client("coordinator")
    url = "/api/v1/trials/ips/participants/"

    missing = post(client, url, {"site": "OSLA"})
    assert missing.status_code == 400
    body = missing.json()
    assert set(body) == {"detail", "code", "errors"}
    assert body["code"] == "invalid"
    assert set(body["errors"]) == {
        "personal_number",
        "enrolled_on",
        "consent_version",
        "consent_date",
    }
    assert body["errors"]["consent_date"] == ["This field is required."]
    # The detail names the first field at fault, for a person reading a log.
    assert body["detail"].endswith(": This field is required.")

    nested = post(client, url, enrolment(baseline={"age": 15}))
    assert nested.status_code == 400
    assert nested.json() == {
        "detail": "baseline.age: Must be at least 16.",
        "code": "invalid",
        "errors": {"baseline": {"age": ["Must be at least 16."]}},
    }


def test_a_refusal_of_no_single_field_is_the_detail(world: World) -> None:
    participant = world.participants["OSLA"][0]
    url = f"/api/v1/trials/ips/participants/{participant.study_id}/withdrawal/"
    client = world.client("coordinator")
    body = {"withdrawn_on": "2025-04-01", "scope": "no_data", "reason": "Moved abroad"}
    assert post(client, url, body).status_code == 201
    again = post(client, url, body)
    assert again.status_code == 400
    assert again.json() == {
        "detail": "The participant has already withdrawn.",
        "code": "invalid",
        "errors": {"non_field_errors": ["The participant has already withdrawn."]},
    }


def test_errors_inside_lists_keep_their_positions(world: World) -> None:
    client = world.client("coordinator")
    contact = {"contact_on": "2025-03-03", "mode": "phone", "minutes": 30, "partners": []}
    bad_partner = {**contact, "partners": ["employer", "astrologer"]}
    response = post(client, "/api/v1/trials/ips/contacts/", bad_partner)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert list(errors) == ["partners"]
    assert list(errors["partners"]) == ["1"]  # the second partner, by its position
    assert "astrologer" in errors["partners"]["1"][0]


def test_a_body_that_is_not_json_is_a_parse_error(world: World) -> None:
    response = world.client("coordinator").post(
        "/api/v1/trials/ips/screening/", "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "parse_error"
    assert body["errors"] == {}
    assert body["detail"].startswith("JSON parse error")


def test_missing_and_wrong_credentials_are_401_with_the_scheme_to_use(world: World) -> None:
    anonymous = Client().get("/api/v1/trials/")
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"] == "Token"
    assert anonymous.json() == {
        "detail": "Authentication credentials were not provided.",
        "code": "not_authenticated",
    }
    wrong = Client(HTTP_AUTHORIZATION="Token " + "0" * 40).get("/api/v1/trials/")
    assert wrong.status_code == 401
    assert wrong.json() == {"detail": "Invalid token.", "code": "authentication_failed"}


def test_a_member_without_the_right_gets_403_and_an_outsider_404(world: World) -> None:
    caseworker = Client(HTTP_AUTHORIZATION=f"Token {api_token(world.users['caseworker'])}")
    refused = caseworker.get("/api/v1/trials/ips/audit-events/")
    assert refused.status_code == 403
    assert refused.json() == {
        "detail": "You do not have permission to perform this action.",
        "code": "permission_denied",
    }
    outsider = world.client("outsider")
    hidden = outsider.get(
        f"/api/v1/trials/ips/participants/{world.participants['OSLA'][0].study_id}/"
    )
    missing = outsider.get("/api/v1/trials/no-such-trial/participants/X/")
    assert hidden.status_code == missing.status_code == 404
    # The same body whether the object exists or not: nothing to learn from it.
    assert hidden.json() == missing.json() == {"detail": "Not found.", "code": "not_found"}


def test_an_object_looked_up_by_id_does_not_name_its_model(world: World) -> None:
    response = world.client("coordinator").get("/api/v1/trials/ips/contacts/999999/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_an_unknown_api_url_is_a_json_404_and_other_urls_keep_the_page(world: World) -> None:
    client = world.client("coordinator")
    api = client.get("/api/v1/no-such-thing/")
    assert api.status_code == 404
    assert api["Content-Type"] == "application/json"
    assert api.json() == {"detail": "Not found.", "code": "not_found"}
    page = client.get("/no-such-page/")
    assert page.status_code == 404
    assert page["Content-Type"].startswith("text/html")


def test_a_wrong_method_is_405(world: World) -> None:
    response = world.client("coordinator").delete("/api/v1/trials/ips/")
    assert response.status_code == 405
    assert response.json() == {
        "detail": 'Method "DELETE" not allowed.',
        "code": "method_not_allowed",
    }


def test_a_server_error_inside_the_api_is_json(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr("trial.api.MeView.get", broken)
    client = Client(raise_request_exception=False)
    client.force_login(world.users["monitor"])
    response = client.get("/api/v1/me/")
    assert response.status_code == 500
    assert response.json() == {"detail": "A server error occurred.", "code": "error"}
    assert "a bug" not in response.content.decode()


def test_errors_speak_the_language_of_the_request(world: World) -> None:
    client = world.client("coordinator")
    response = client.get("/api/v1/trials/ips/contacts/999999/", HTTP_ACCEPT_LANGUAGE="nb")
    assert response.json() == {"detail": "Ikke funnet.", "code": "not_found"}
    missing = post(client, "/api/v1/trials/ips/screening/", {})
    assert missing.status_code == 400
    assert missing.json()["errors"]["site"] == ["This field is required."]
    norwegian = client.post(
        "/api/v1/trials/ips/screening/",
        {},
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="nb",
    )
    assert norwegian.json()["errors"]["site"] == ["Dette feltet er påkrevd."]
    assert norwegian.json()["code"] == "invalid"


def test_throttling_keeps_retry_after() -> None:
    response = exception_handler(exceptions.Throttled(wait=42), {})
    assert response is not None
    assert response.status_code == 429
    assert response["Retry-After"] == "42"
    assert response.data["code"] == "throttled"
    assert set(response.data) == {"detail", "code"}


def test_a_nul_character_anywhere_is_refused_input(world: World) -> None:
    """PostgreSQL cannot store or compare NUL; codes, filters and paths with it are a 400 that
    names the filter."""
    client = world.client("coordinator")
    contact = {"contact_on": "2025-03-03", "mode": "phone", "minutes": 30, "partners": []}
    in_a_code = post(client, "/api/v1/trials/ips/contacts/", {**contact, "site": "OS\x00LA"})
    in_a_filter = client.get("/api/v1/trials/ips/participants/", {"site": "\x00"})
    assert in_a_filter.status_code == 400
    # The query parameter and the path are refused before any view (config.characters).
    nul = "Contains a character that is not allowed: NUL (U+0000)."
    assert in_a_filter.json()["errors"] == {"site": [nul]}
    in_a_path = client.get("/api/v1/trials/ips/participants/OSLA%00/")
    assert in_a_path.status_code == 400
    assert in_a_path.json()["errors"] == {
        "non_field_errors": ["The address contains a character that is not allowed: NUL (U+0000)."]
    }
    # A code in a body is refused by the input's check, on every database.
    assert in_a_code.status_code == 400
    assert in_a_code.json()["errors"] == {"site": [nul]}


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/trials/ips/allocations/?source=AAA", "source"),
        ("/api/v1/trials/ips/allocations/?source=", "source"),
        ("/api/v1/trials/ips/participants/?status=null", "status"),
        ("/api/v1/trials/ips/participants/?site=", "site"),
        ("/api/v1/trials/ips/consort.svg?cut_off=", "cut_off"),
        ("/api/v1/trials/ips/pathways/sequences/?page_size=null", "page_size"),
        ("/api/v1/trials/ips/pathways/sequences/?page_size=0", "page_size"),
        ("/api/v1/trials/ips/pathways/sequences/?page_size=5001", "page_size"),
        ("/api/v1/trials/ips/pathways/spells/?state=", "state"),
    ],
)
def test_a_filter_the_schema_refuses_is_a_400_naming_it(world: World, url: str, field: str) -> None:
    """Unknown enum values, empty values and a page size that is not 1 to 5000 were ignored
    (the whole list, or 100 rows, or 5000 rows came back)."""
    response = world.client("coordinator").get(url)
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {field}


def test_a_json_value_of_another_type_than_the_schemas_is_refused(world: World) -> None:
    """DRF took 0 for a string ("0") and for a boolean (false); the schema says neither."""
    client = world.client("coordinator")
    url = "/api/v1/trials/ips/screening/"
    screening = {"site": "OSLA", "screened_on": "2025-02-01", "eligible": True}
    declined = post(client, url, {**screening, "declined": 0})
    assert declined.status_code == 400
    assert declined.json()["errors"] == {"declined": ["Must be a valid boolean."]}
    blank_code = post(client, url, {**screening, "exclusion_reason": ""})
    assert blank_code.status_code == 400
    assert blank_code.json()["errors"] == {"exclusion_reason": ["This field may not be blank."]}
    version = post(client, "/api/v1/trials/ips/participants/", enrolment(consent_version=0))
    assert version.status_code == 400
    assert version.json()["errors"] == {"consent_version": ["Not a valid string."]}
    assert post(client, url, {**screening, "declined": False}).status_code == 201
