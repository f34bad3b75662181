"""For every role: which pages and API endpoints it may use, inside and outside its scope.

404 means "does not exist for you" (outside the trial or the caseworker's sites), 403 means a
member of the trial lacking the capability.
"""

from __future__ import annotations

import pytest

from tests.conftest import World

ALL = [
    "coordinator",
    "caseworker",
    "reviewer",
    "statistician",
    "unblinded",
    "datamanager",
    "monitor",
]
SEE_PARTICIPANTS = [
    "coordinator",
    "caseworker",
    "statistician",
    "unblinded",
    "datamanager",
    "monitor",
]
SEE_AUDIT = ["coordinator", "datamanager", "monitor"]


def expected(persona: str, allowed: list[str]) -> int:
    if persona == "outsider":
        return 404
    return 200 if persona in allowed else 403


# (name, url template, allowed personas); {own} is a participant at the caseworker's site.
ENDPOINTS = [
    ("dashboard", "/trials/ips/", ALL),
    ("participants page", "/trials/ips/participants/", SEE_PARTICIPANTS),
    ("participant page", "/trials/ips/participants/{own}/", SEE_PARTICIPANTS),
    ("audit page", "/trials/ips/audit/", SEE_AUDIT),
    ("api trial", "/api/v1/trials/ips/", ALL),
    ("api sites", "/api/v1/trials/ips/sites/", ALL),
    ("api arms", "/api/v1/trials/ips/arms/", ALL),
    ("api participants", "/api/v1/trials/ips/participants/", SEE_PARTICIPANTS),
    ("api participant", "/api/v1/trials/ips/participants/{own}/", SEE_PARTICIPANTS),
    ("api audit", "/api/v1/trials/ips/audit-events/", SEE_AUDIT),
]


@pytest.mark.parametrize("persona", [*ALL, "outsider"])
@pytest.mark.parametrize(("name", "url", "allowed"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
def test_role_matrix(world: World, persona: str, name: str, url: str, allowed: list[str]) -> None:
    own = world.participants["OSLA"][0].study_id
    response = world.client(persona).get(url.format(own=own))
    assert response.status_code == expected(persona, allowed), (persona, name)


@pytest.mark.parametrize("persona", SEE_PARTICIPANTS)
def test_participant_outside_caseworker_sites_is_not_found_for_caseworker(
    world: World, persona: str
) -> None:
    other = world.participants["BGO"][0].study_id
    for url in (f"/trials/ips/participants/{other}/", f"/api/v1/trials/ips/participants/{other}/"):
        response = world.client(persona).get(url)
        assert response.status_code == (404 if persona == "caseworker" else 200), url


@pytest.mark.parametrize("persona", ALL)
def test_other_trial_is_not_found(world: World, persona: str) -> None:
    trd = world.participants["TRD"][0].study_id
    client = world.client(persona)
    for url in (
        "/trials/other/",
        f"/trials/other/participants/{trd}/",
        "/api/v1/trials/other/",
        "/api/v1/trials/other/participants/",
    ):
        assert client.get(url).status_code == 404, url
    # A foreign participant's id answers exactly like an id that does not exist.
    for base in ("/trials/ips/participants/", "/api/v1/trials/ips/participants/"):
        foreign = client.get(f"{base}{trd}/")
        missing = client.get(f"{base}NOPE-000000/")
        assert foreign.status_code == missing.status_code, base
        assert foreign.status_code in (403, 404)


def test_unknown_trial_and_foreign_trial_look_the_same(world: World) -> None:
    client = world.client("coordinator")
    unknown = client.get("/api/v1/trials/does-not-exist/")
    foreign = client.get("/api/v1/trials/other/")
    assert unknown.status_code == foreign.status_code == 404
    assert unknown.json() == foreign.json()


def test_caseworker_lists_only_their_sites(world: World) -> None:
    client = world.client("caseworker")
    api = client.get("/api/v1/trials/ips/participants/").json()
    ids = {row["study_id"] for row in api["results"]}
    assert ids == {p.study_id for p in world.participants["OSLA"]}
    page = client.get("/trials/ips/participants/").content.decode()
    for code in ("OSLB", "BGO", "TRD"):
        for p in world.participants[code]:
            assert p.study_id not in page
    sites = client.get("/api/v1/trials/ips/sites/").json()["results"]
    assert [s["code"] for s in sites] == ["OSLA"]


def test_coordinator_lists_every_site(world: World) -> None:
    api = world.client("coordinator").get("/api/v1/trials/ips/participants/").json()
    assert api["count"] == 6


def test_trial_list_shows_only_memberships(world: World) -> None:
    codes = [t["code"] for t in world.client("monitor").get("/api/v1/trials/").json()["results"]]
    assert codes == ["ips"]
    codes = [t["code"] for t in world.client("outsider").get("/api/v1/trials/").json()["results"]]
    assert codes == ["other"]


def test_blinded_statistician_sees_arm_codes_only(world: World) -> None:
    blinded = world.client("statistician").get("/api/v1/trials/ips/arms/").json()
    assert [(a["code"], a["name"], a["is_control"]) for a in blinded] == [
        ("A", None, None),
        ("B", None, None),
    ]
    page = world.client("statistician").get("/trials/ips/").content.decode()
    assert "Usual services" not in page
    unblinded = world.client("unblinded").get("/api/v1/trials/ips/arms/").json()
    assert [a["name"] for a in unblinded] == ["Intervention", "Usual services"]


def test_anonymous_is_sent_to_login_or_refused(world: World) -> None:
    from django.test import Client

    client = Client()
    response = client.get("/trials/ips/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    api = client.get("/api/v1/trials/ips/")
    assert api.status_code == 401
    assert api["WWW-Authenticate"] == "Token"


def test_token_authentication(world: World) -> None:
    from django.test import Client

    from tests.conftest import api_token

    client = Client(HTTP_AUTHORIZATION=f"Token {api_token(world.users['caseworker'])}")
    assert client.get("/api/v1/trials/ips/participants/").json()["count"] == 2
    assert client.get("/api/v1/trials/ips/audit-events/").status_code == 403


def test_admin_uses_the_same_permission_layer(world: World) -> None:
    coordinator = world.users["coordinator"]
    coordinator.is_staff = True
    coordinator.save()
    caseworker = world.users["caseworker"]
    caseworker.is_staff = True
    caseworker.save()
    page = world.client("coordinator").get("/admin/trial/participant/").content.decode()
    assert world.participants["BGO"][0].study_id in page
    assert world.participants["TRD"][0].study_id not in page
    page = world.client("caseworker").get("/admin/trial/participant/").content.decode()
    assert world.participants["OSLA"][0].study_id in page
    assert world.participants["BGO"][0].study_id not in page
    foreign = world.participants["TRD"][0]
    response = world.client("coordinator").get(f"/admin/trial/participant/{foreign.pk}/change/")
    assert response.status_code == 302  # admin redirects a missing object to its index
    assert world.client("coordinator").get("/admin/trial/auditevent/add/").status_code == 403
