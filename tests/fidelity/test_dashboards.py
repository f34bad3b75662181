"""The dose-and-reach and contamination dashboards: access, figures, period form, query counts.

Figures are those of ``tests/fidelity/small_trial.py``, worked out by hand in test_summaries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from fidelity.contacts import services
from fidelity.models import Contact
from randomisation.allocation import services as rs
from randomisation.models import Allocation
from tests import factories
from tests.conftest import verified_login
from tests.fidelity import small_trial
from tests.fidelity.small_trial import SmallTrial
from trial.models import Arm, Membership

DOSE = "/trials/small/dashboards/dose/"
CONTAMINATION = "/trials/small/dashboards/contamination/"
PERIOD = "?end=2025-06-30"


@pytest.fixture
def small(db: None) -> Iterator[SmallTrial]:
    with time_machine.travel(small_trial.TODAY, tick=False):
        built = small_trial.build()
        other = factories.make_trial(code="elsewhere")
        for name, role, unblinded, trial in (
            ("statistician", Membership.Role.STATISTICIAN, False, built.trial),
            ("unblinded", Membership.Role.STATISTICIAN, True, built.trial),
            ("caseworker", Membership.Role.CASEWORKER, False, built.trial),
            ("monitor", Membership.Role.MONITOR, False, built.trial),
            ("outsider", Membership.Role.COORDINATOR, False, other),
        ):
            user = factories.make_user(name)
            sites = [built.sites["S1"]] if role == Membership.Role.CASEWORKER else []
            factories.make_membership(user, trial, role, sites, unblinded=unblinded)
            built.users[name] = user
        built.users["coordinator"] = built.coordinator
        yield built


def client(small: SmallTrial, persona: str) -> Client:
    return verified_login(Client(), small.users[persona])


ACCESS = {
    "outsider": 404,
    "statistician": 403,  # blinded: the figures by arm would reveal allocations
    "caseworker": 403,  # no dashboard right
    "monitor": 200,
    "unblinded": 200,
    "coordinator": 200,
}


def test_who_may_see_the_dashboards(small: SmallTrial) -> None:
    for url in (DOSE, CONTAMINATION):
        for persona, status in ACCESS.items():
            response = client(small, persona).get(url + PERIOD)
            assert response.status_code == status, (url, persona)
            if status != 200:
                assert b"Usual services" not in response.content


def menu_urls(response: Any) -> set[str]:
    """Every entry of the trial menu (its groups' entries), as the user may see them."""
    return {item["url"] for group in response.context["trial_nav"] for item in group["items"]}


def test_menu_shows_the_dashboards_only_to_those_who_may_open_them(small: SmallTrial) -> None:
    """The menu checks the same two rights as the pages (dashboard and allocations)."""
    for persona, status in ACCESS.items():
        if persona == "outsider":
            continue
        menu = menu_urls(client(small, persona).get("/trials/small/statistics/"))
        for url in (DOSE, CONTAMINATION):
            assert (url in menu) == (status == 200), (persona, url)


def test_dose_page_shows_the_hand_computed_figures(small: SmallTrial) -> None:
    response = client(small, "coordinator").get(DOSE + PERIOD)
    assert response.status_code == 200
    arms = {row["key"]: row for row in response.context["arm_rows"]}
    assert arms["A"]["contacts"] == 6
    assert arms["A"]["contacts_per_month"] == pytest.approx(6 / (353 / 30.4375))
    assert arms["B"]["reached_share_pct"] == 50.0
    assert arms["B"]["median"] == 25 and arms["B"]["q1"] == 13 and arms["B"]["q3"] == 37
    sites = {row["key"]: row for row in response.context["site_rows"]}
    assert sites["S1"]["employer_contacts"] == 1
    assert sites["S1"]["contacts_per_month"] == pytest.approx(7 / (428 / 30.4375))
    components = {row["code"]: row for row in response.context["component_rows"]}
    assert [c["received"] for c in components["rapid"]["cells"]] == [3, 1]
    assert response.context["overall"]["participants"] == 7
    html = response.content.decode()
    # The table beside the chart, and the chart itself as inline SVG.
    assert "0.52" in html  # contacts per participant-month in arm A, 2 decimals
    assert (
        'id="table-arms"' in html and "<svg" in html and "<script" not in html.split("</header>")[1]
    )
    assert "Usual services" in html


def test_contamination_page_shows_the_hand_computed_figures(small: SmallTrial) -> None:
    response = client(small, "coordinator").get(CONTAMINATION + PERIOD)
    assert response.status_code == 200
    overall = response.context["overall"]
    assert (overall["controls"], overall["exposed"], overall["share_exposed_pct"]) == (4, 3, 75.0)
    assert [row["key"] for row in response.context["driving_rows"]] == ["S2", "S1"]
    months = {row["key"]: row for row in response.context["month_rows"]}
    assert months["2025-05"]["events"] == 4
    assert months["2025-06"]["cumulative_share_pct"] == 75.0
    latest = response.context["latest_rows"]
    assert [row["study_id"] for row in latest[:2]] == ["p4", "p6"]
    html = response.content.decode()
    assert 'href="/trials/small/participants/p4/"' in html
    assert "Reported by staff" in html


def test_site_filter_and_period(small: SmallTrial) -> None:
    response = client(small, "coordinator").get(DOSE + "?site=S2&start=2025-03-01&end=2025-05-31")
    assert response.status_code == 200
    assert [row["key"] for row in response.context["site_rows"]] == ["S2"]
    assert response.context["overall"]["participants"] == 3
    assert response.context["start"] == dt.date(2025, 3, 1)


@pytest.mark.parametrize("url", [DOSE, CONTAMINATION])
@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("?start=2025-06-01&end=2025-05-01", "start", "must start on or before its cut-off"),
        ("?end=2025-07-02", "end", "cannot be in the future"),
        ("?end=yesterday", "end", "Enter a valid date"),
        ("?site=NOPE", "site", "Select a valid choice"),
    ],
)
def test_invalid_period_is_a_field_error(
    small: SmallTrial, url: str, query: str, field: str, message: str
) -> None:
    response = client(small, "coordinator").get(url + query)
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert message in response.content.decode()
    assert "overall" not in response.context


def test_menu_links_to_both_dashboards(small: SmallTrial) -> None:
    # In the Fidelity group: its second row shows them on a page of the group.
    html = client(small, "coordinator").get(DOSE).content.decode()
    assert f'href="{DOSE}" aria-current="page"' in html and f'href="{CONTAMINATION}"' in html


def _add_people(small: SmallTrial, n: int) -> None:
    """More randomised participants with contacts and exposures, at both sites."""
    arms = {arm.code: arm for arm in Arm.objects.filter(trial=small.trial)}
    for i in range(n):
        site = small.sites["S1" if i % 2 else "S2"]
        person = factories.make_participant(
            small.trial, site, study_id=f"extra-{i}", enrolled_on=dt.date(2025, 1, 1)
        )
        rs.record_manual(
            person,
            arm=arms["B" if i % 3 else "A"],
            on=dt.date(2025, 2, 1),
            reference="",
            reason="",
            actor=small.coordinator,
            source=Allocation.Source.IMPORTED,
        )
        services.log_contact(
            small.trial,
            actor=small.coordinator,
            participant=person,
            site=None,
            contact_on=dt.date(2025, 4, 1 + i),
            mode=Contact.Mode.PHONE,
            minutes=10,
            partners=["participant", "employer"],
            components=[small.components["rapid"]],
        )


@pytest.mark.parametrize("url", [DOSE, CONTAMINATION])
def test_query_count_does_not_grow_with_participants(
    small: SmallTrial, url: str, django_assert_max_num_queries: object
) -> None:
    coordinator = client(small, "coordinator")
    with CaptureQueriesContext(connection) as before:
        assert coordinator.get(url + PERIOD).status_code == 200
    with time_machine.travel(small_trial.TODAY, tick=False):
        _add_people(small, 12)
    with CaptureQueriesContext(connection) as after:
        response = coordinator.get(url + PERIOD)
    assert response.status_code == 200
    assert response.context["overall"]["controls" if url == CONTAMINATION else "participants"] > 7
    assert len(after) == len(before)
    with django_assert_max_num_queries(16):  # type: ignore[operator]
        coordinator.get(url + PERIOD)
