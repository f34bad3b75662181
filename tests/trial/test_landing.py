"""Role-aware landing pages and the trial menu grouped by task: each member opens a trial on
their own work (caseworkers, fidelity reviewers, statisticians) or on its figures (those who
run or oversee it), and the figures stay one menu entry away."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from fidelity.contacts.services import log_contact
from fidelity.models import Component, Contact
from fidelity.reviews import services as review_services
from fidelity.scales import services as scales
from tests.conftest import World
from trial import extensions, permissions
from trial.extensions import NavItem
from trial.models import Membership, Visit, VisitDefinition

DASHBOARD = "/trials/ips/"
STATISTICS = "/trials/ips/statistics/"


def groups(response: Any) -> dict[str, list[str]]:
    """The menu as the user sees it: group label -> its entries' labels."""
    return {
        str(g["label"]): [str(i["label"]) for i in g["items"]]
        for g in response.context["trial_nav"]
    }


def test_every_role_has_a_landing_page() -> None:
    assert set(permissions.ROLE_LANDING) == set(Membership.Role.values)


@pytest.mark.parametrize("persona", ["coordinator", "datamanager", "monitor"])
def test_those_who_run_the_trial_land_on_its_figures(world: World, persona: str) -> None:
    response = world.client(persona).get(DASHBOARD)
    assert response.status_code == 200
    assert "trial/dashboard.html" in [t.name for t in response.templates]
    assert "Recruitment by site" in response.content.decode()
    # Their dashboard is the figures: no second entry for them.
    menu = groups(response)
    assert menu["Overview"] == ["Dashboard"]


@time_machine.travel(dt.datetime(2025, 6, 2, 9, tzinfo=dt.UTC), tick=False)
def test_caseworker_lands_on_visits_due_and_their_recent_contacts(world: World) -> None:
    caseworker = world.users["caseworker"]
    own, other_site = world.participants["OSLA"][0], world.participants["OSLB"][0]
    definition = VisitDefinition.objects.create(
        trial=world.trial, code="m6", label="6 months", offset_months=6
    )
    for participant, window_end in ((own, dt.date(2025, 6, 5)), (other_site, dt.date(2025, 6, 5))):
        Visit.objects.create(
            participant=participant,
            definition=definition,
            due_on=dt.date(2025, 6, 1),
            window_start=dt.date(2025, 5, 18),
            window_end=window_end,
        )
    component = Component.objects.create(trial=world.trial, code="cv", name="CV help")
    log_contact(
        world.trial,
        actor=caseworker,
        participant=own,
        site=None,
        contact_on=dt.date(2025, 5, 30),
        mode=Contact.Mode.PHONE,
        minutes=20,
        partners=["participant"],
        components=[component],
    )
    response = world.client("caseworker").get(DASHBOARD)
    assert response.status_code == 200
    page = response.content.decode()
    assert "trial/landing.html" in [t.name for t in response.templates]
    assert "Recruitment by site" not in page
    assert "Follow-up visits due" in page
    assert "1 visit of your participants is overdue, due, or due within a week" in page
    assert own.study_id in page and other_site.study_id not in page  # only their sites
    assert "Your recent contacts" in page and "CV help" in page
    assert reverse("fidelity:contacts", args=["ips"]) in page
    # The figures are one menu entry away, and still there for them.
    menu = groups(response)
    assert menu["Overview"] == ["Your work", "Trial statistics"]
    assert menu["Follow-up"] == ["Worklist", "Contacts"]
    figures = world.client("caseworker").get(STATISTICS)
    assert figures.status_code == 200
    assert "Recruitment by site" in figures.content.decode()


def test_reviewer_lands_on_their_reviews_to_score_awaiting_and_finalised(world: World) -> None:
    reviewer, coordinator = world.users["reviewer"], world.users["coordinator"]
    scale = scales.add_template_scale(world.trial, actor=coordinator)

    def review(site: int, day: dt.date) -> Any:
        return review_services.create_review(
            world.trial,
            actor=coordinator,
            site=world.sites[site],
            scale=scale,
            review_date=day,
            reviewers=[reviewer],
        )

    review(0, dt.date(2025, 5, 1))  # not started
    draft = review(1, dt.date(2025, 5, 2))
    review_services.submit_scores(
        draft, actor=reviewer, scores=dict.fromkeys(range(1, 11), 3), draft=True
    )
    done = review(2, dt.date(2025, 4, 1))
    all_items = dict.fromkeys(range(1, 26), 4)
    review_services.submit_scores(done, actor=reviewer, scores=all_items)
    review_services.record_consensus(done, actor=reviewer, scores=all_items)
    review_services.finalise_review(done, actor=reviewer)
    response = world.client("reviewer").get(DASHBOARD)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Your fidelity reviews" in page
    to_score = page.split("Waiting for your scores")[1].split("Finalised")[0]
    assert "not started" in to_score and "draft: 10 of 25 items scored" in to_score
    finalised = page.split("<h3>Finalised</h3>")[1].split("</ul>")[0]
    assert "BGO" in finalised
    assert "Follow-up visits due" not in page and "Your recent contacts" not in page


def test_statistician_lands_on_the_analysis_plan_and_reports(world: World) -> None:
    response = world.client("statistician").get(DASHBOARD)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Analysis plan and reports" in page
    assert "No analysis plan yet." in page
    assert reverse("reports:plan", args=["ips"]) in page
    assert "Your fidelity reviews" not in page and "Follow-up visits due" not in page


def test_landing_page_refuses_outsiders(world: World) -> None:
    assert world.client("outsider").get(DASHBOARD).status_code == 404
    assert world.client("outsider").get(STATISTICS).status_code == 404
    assert Client().get(DASHBOARD).status_code == 302  # to the sign-in page


def test_signing_in_leads_a_caseworker_to_their_work(world: World) -> None:
    client = Client()
    user = world.users["caseworker"]
    user.set_password("a long enough password")
    user.save()
    response = client.post(
        reverse("login"),
        {"username": "caseworker", "password": "a long enough password"},
        follow=True,
    )
    assert [url for url, _status in response.redirect_chain][-1] == DASHBOARD
    assert "trial/landing.html" in [t.name for t in response.templates]


# The menu


def test_menu_shows_groups_and_the_current_groups_entries(world: World) -> None:
    client = world.client("coordinator")
    dashboard = client.get(DASHBOARD)
    assert list(groups(dashboard)) == [
        "Overview",
        "Participants",
        "Follow-up",
        "Randomisation",
        "Fidelity",
        "Reports",
        "Data",
        "Set-up",
    ]
    assert dashboard.context["trial_subnav"] is None  # one entry: no second row
    page = client.get("/trials/ips/screening/")
    subnav = page.context["trial_subnav"]
    assert [str(i["label"]) for i in subnav["items"]] == ["Participants", "Screening", "Pathways"]
    html = page.content.decode()
    # The group is marked current, the page itself in the second row.
    assert '<a href="/trials/ips/participants/" aria-current="true">Participants</a>' in html
    assert '<a href="/trials/ips/screening/" aria-current="page">Screening</a>' in html
    assert html.count("<nav") == 2


def test_menu_entries_follow_permissions_in_every_group(world: World) -> None:
    menu = groups(world.client("statistician").get(STATISTICS))
    assert "Follow-up" not in menu and "Set-up" not in menu
    assert menu["Overview"] == ["Your work", "Trial statistics"]


def test_an_app_puts_its_menu_entry_in_a_group_and_an_unknown_group_is_refused(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(extensions, "_nav_items", list(extensions._nav_items))
    extensions.register_nav_item(
        NavItem("Audit again", "trial:audit", perm="view_audit", order=95, group="setup")
    )
    menu = groups(world.client("coordinator").get(DASHBOARD))
    assert menu["Set-up"] == [
        "Trial set-up",
        "Instruments",
        "Consent texts",
        "Participant links",
        "Audit again",
    ]
    with pytest.raises(ValueError, match="Unknown menu group"):
        extensions.register_nav_item(NavItem("X", "trial:audit", perm="view_audit", group="x"))
