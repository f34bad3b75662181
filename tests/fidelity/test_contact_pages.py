"""The contact log in the browser (server side): the quick form, the participant search, the
lists, corrections within the edit window, the lock after it, and who may see what."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.test import Client

from fidelity.models import Component, Contact, Exposure
from tests import factories
from tests.conftest import World
from tests.factories import allocate
from tests.fidelity.builders import make_components
from trial import services as trial_services
from trial.models import AuditEvent, Membership, Participant

TODAY = dt.datetime(2025, 6, 2, 9, tzinfo=dt.UTC)
LOG = "/trials/ips/contacts/"
EMPLOYER = "/trials/ips/contacts/employer/"
SEARCH = "/trials/ips/contacts/participants/"
ALL = "/trials/ips/contacts/all/"


@pytest.fixture(autouse=True)
def today() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(TODAY, tick=False) as traveller:
        yield traveller


@pytest.fixture
def components(world: World) -> dict[str, Component]:
    return make_components(world.trial)


def form(participant: Participant | None, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "study_id": participant.study_id if participant else "",
        "contact_on": "2025-05-20",
        "mode": "in_person",
        "minutes": "45",
        "partners": ["participant", "employer"],
        "components": [],
        "note": "Visited a warehouse together.",
        "client_id": str(uuid.uuid4()),
    }
    values.update(overrides)
    return values


def errors(response: Any) -> dict[str, list[str]]:
    return {k: list(v) for k, v in response.context["form"].errors.items()}


# Who may use the pages


@pytest.mark.parametrize("url", [LOG, EMPLOYER, SEARCH + "?study_id=OSLA", ALL, f"{LOG}1/edit/"])
def test_outsider_gets_404_on_every_contact_page(world: World, url: str) -> None:
    assert world.client("outsider").get(url).status_code == 404


@pytest.mark.parametrize("persona", ["statistician", "reviewer", "monitor"])
def test_members_without_the_log_contact_right_get_403(world: World, persona: str) -> None:
    assert world.client(persona).get(LOG).status_code == 403


# The quick form


def test_the_form_starts_with_sensible_defaults_and_remembers_the_last_minutes(
    world: World, components: dict[str, Component]
) -> None:
    client = world.client("caseworker")
    page = client.get(LOG)
    assert page.status_code == 200
    initial = page.context["form"].initial
    assert initial["contact_on"] == dt.date(2025, 6, 2)
    assert initial["mode"] == "in_person"
    assert initial["partners"] == ["participant"]
    assert initial["minutes"] == 30
    html = page.content.decode()
    assert 'value="2025-06-02"' in html and 'list="participant-options"' in html
    assert 'value="in_person" id="id_mode_0" checked' in html.replace("\n", " ") or (
        'id="id_mode_0" checked' in html
    )

    participant = world.participants["OSLA"][0]
    response = client.post(LOG, form(participant, minutes="50"))
    assert response.status_code == 302
    assert client.get(LOG).context["form"].initial["minutes"] == 50


def test_a_participant_page_link_presets_the_participant(world: World) -> None:
    participant = world.participants["OSLA"][0]
    client = world.client("caseworker")
    detail = client.get(f"/trials/ips/participants/{participant.study_id}/")
    link = f"{LOG}?participant={participant.study_id}"
    assert link in detail.content.decode()
    page = client.get(link)
    assert page.context["form"].initial["study_id"] == participant.study_id


def test_the_search_offers_only_the_users_own_participants(world: World) -> None:
    own = world.participants["OSLA"]
    other = world.participants["OSLB"][0]
    client = world.client("caseworker")
    found = client.get(SEARCH, {"study_id": "osla"}, headers={"HX-Request": "true"})
    assert found.status_code == 200
    assert [p.study_id for p in found.context["participants"]] == sorted(p.study_id for p in own)
    assert f'<option value="{own[0].study_id}">' in found.content.decode()
    # Another site's participant is not offered, even by its full study id.
    hidden = client.get(SEARCH, {"study_id": other.study_id})
    assert list(hidden.context["participants"]) == []
    assert other.study_id not in hidden.content.decode()
    # The coordinator sees every site's participants.
    everyone = world.client("coordinator").get(SEARCH, {"study_id": "-"})
    assert len(everyone.context["participants"]) == 6


def test_caseworker_logs_a_contact_and_sees_it_in_the_list_with_its_edit_window(
    world: World, components: dict[str, Component]
) -> None:
    participant = world.participants["OSLA"][0]
    client = world.client("caseworker")
    data = form(participant, components=[components["rapid"].pk, components["benefits"].pk])
    response = client.post(LOG, data, follow=True)
    assert response.redirect_chain == [(LOG, 302)]
    assert f"Contact with {participant.study_id} logged." in response.content.decode()
    contact = Contact.objects.get()
    assert contact.participant == participant and contact.site == world.sites[0]
    assert contact.minutes == 45 and contact.mode == "in_person"
    assert contact.partners == ["participant", "employer"]
    assert {c.code for c in contact.components.all()} == {"rapid", "benefits"}
    assert str(contact.client_id) == data["client_id"]
    assert AuditEvent.objects.filter(action="contact.created", target_id=str(contact.pk)).exists()
    row = response.context["rows"][0]
    assert row["contact"] == contact and row["editable"] and not row["locked"]
    assert row["until"] == dt.datetime(2025, 6, 5, 9, tzinfo=dt.UTC)
    html = response.content.decode()
    assert f"{LOG}{contact.pk}/edit/" in html and "editable until 2025-06-05" in html


def test_a_double_submission_logs_the_contact_once(world: World) -> None:
    participant = world.participants["OSLA"][0]
    client = world.client("caseworker")
    data = form(participant)
    client.post(LOG, data)
    again = client.post(LOG, data, follow=True)
    assert "it was not saved twice" in again.content.decode()
    assert Contact.objects.count() == 1


# Bad input: a field-level message and nothing saved


def test_another_sites_participant_gets_the_same_answer_as_an_unknown_id(world: World) -> None:
    client = world.client("caseworker")
    other = client.post(LOG, form(world.participants["OSLB"][0]))
    unknown = client.post(LOG, form(None, study_id="OSLB-999999"))
    message = ["None of your participants has this study id."]
    assert other.status_code == unknown.status_code == 200
    assert errors(other) == errors(unknown) == {"study_id": message}
    assert Contact.objects.count() == 0
    assert AuditEvent.objects.filter(action__startswith="contact").count() == 0


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"contact_on": "2025-06-03"}, "contact_on", "cannot be in the future"),
        ({"contact_on": "2025-02-28"}, "contact_on", "cannot be before enrolment (2025-03-01)"),
        ({"minutes": "0"}, "minutes", "greater than or equal to 1"),
        ({"minutes": "601"}, "minutes", "less than or equal to 600"),
        ({"mode": "pigeon"}, "mode", "Select a valid choice"),
        ({"partners": ["astrologer"]}, "partners", "Select a valid choice"),
        ({"note": "x" * 501}, "note", "at most 500 characters"),
        ({"study_id": ""}, "study_id", "This field is required"),
    ],
)
def test_bad_input_gets_a_field_level_message_and_saves_nothing(
    world: World, overrides: dict[str, Any], field: str, message: str
) -> None:
    response = world.client("caseworker").post(
        LOG, form(world.participants["OSLA"][0], **overrides)
    )
    assert response.status_code == 200
    found = errors(response)
    assert list(found) == [field] and message in found[field][0], found
    assert f'id="id_{field}_error"' in response.content.decode()
    assert Contact.objects.count() == 0


def test_no_contact_after_a_withdrawal(world: World) -> None:
    participant = world.participants["OSLA"][0]
    trial_services.withdraw_participant(
        participant,
        withdrawn_on=dt.date(2025, 5, 1),
        scope="no_contact",
        reason="Moved away",
        actor=world.users["coordinator"],
    )
    client = world.client("caseworker")
    refused = client.post(LOG, form(participant, contact_on="2025-05-02"))
    assert "asked for no further contact" in errors(refused)["contact_on"][0]
    assert Contact.objects.count() == 0
    # A contact on or before the withdrawal date may still be entered late.
    assert client.post(LOG, form(participant, contact_on="2025-04-30")).status_code == 302
    assert Contact.objects.count() == 1


# Employer contacts (job development)


def test_employer_contact_without_a_participant(
    world: World, components: dict[str, Component]
) -> None:
    client = world.client("caseworker")
    page = client.get(EMPLOYER)
    assert page.context["form"].initial["partners"] == ["employer"]
    assert list(page.context["form"].fields["site"].queryset) == [world.sites[0]]
    data = form(None, site=world.sites[0].pk, partners=["employer"])
    data["components"] = [components["jobdev"].pk]
    assert client.post(EMPLOYER, data).status_code == 302
    contact = Contact.objects.get()
    assert contact.participant is None and contact.site == world.sites[0]
    # Without the employer among who took part, it is refused at the field.
    missing = client.post(EMPLOYER, {**data, "client_id": str(uuid.uuid4()), "partners": []})
    assert "must be with an employer" in errors(missing)["partners"][0]
    # Another site is not offered.
    other = client.post(
        EMPLOYER, {**data, "client_id": str(uuid.uuid4()), "site": world.sites[1].pk}
    )
    assert "site" in errors(other)
    assert Contact.objects.count() == 1


# Corrections, the audit trail and the lock


def log_one(world: World, persona: str = "caseworker", **overrides: Any) -> Contact:
    participant = overrides.pop("participant", world.participants["OSLA"][0])
    response = world.client(persona).post(LOG, form(participant, **overrides))
    assert response.status_code == 302, errors(response)
    return Contact.objects.order_by("-id").first()  # type: ignore[return-value]


def edit_form(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "contact_on": "2025-05-21",
        "mode": "phone",
        "minutes": "20",
        "partners": ["participant"],
        "components": [],
        "note": "Corrected: by phone.",
    }
    values.update(overrides)
    return values


def test_author_corrects_a_contact_and_the_change_is_audited(
    world: World, components: dict[str, Component]
) -> None:
    contact = log_one(world, components=[components["rapid"].pk])
    client = world.client("caseworker")
    url = f"{LOG}{contact.pk}/edit/"
    page = client.get(url)
    assert page.status_code == 200 and page.context["form"].initial["minutes"] == 45
    response = client.post(url, edit_form(components=[components["benefits"].pk]), follow=True)
    assert "The contact is corrected." in response.content.decode()
    contact.refresh_from_db()
    assert (contact.contact_on, contact.mode, contact.minutes) == (
        dt.date(2025, 5, 21),
        "phone",
        20,
    )
    event = AuditEvent.objects.get(action="contact.changed", target_id=str(contact.pk))
    assert event.actor == world.users["caseworker"]
    assert event.data["changes"]["minutes"] == [45, 20]
    assert event.data["changes"]["mode"] == ["in_person", "phone"]
    assert event.data["changes"]["components"] == [["rapid"], ["benefits"]]
    assert event.data["changes"]["partners"] == [["participant", "employer"], ["participant"]]


def test_a_correction_with_bad_input_is_refused_at_the_field(world: World) -> None:
    contact = log_one(world)
    url = f"{LOG}{contact.pk}/edit/"
    response = world.client("caseworker").post(url, edit_form(contact_on="2025-07-01"))
    assert "cannot be in the future" in errors(response)["contact_on"][0]
    contact.refresh_from_db()
    assert contact.contact_on == dt.date(2025, 5, 20)
    assert not AuditEvent.objects.filter(action="contact.changed").exists()


def test_a_contact_locks_when_the_edit_window_closes(
    world: World, today: time_machine.Traveller, settings: Any
) -> None:
    settings.CONTACT_EDIT_HOURS = 72
    contact = log_one(world)
    url = f"{LOG}{contact.pk}/edit/"
    # A fresh login after each jump: sessions expire sooner than the edit window.
    today.move_to(TODAY + dt.timedelta(hours=71, minutes=59))
    assert "form" in world.client("caseworker").get(url).context
    today.move_to(TODAY + dt.timedelta(hours=72, minutes=1))
    client = world.client("caseworker")
    page = client.get(url)
    assert page.status_code == 200 and "form" not in page.context
    assert "locked 72 hours after it was logged" in page.content.decode()
    refused = client.post(url, edit_form())
    assert refused.status_code == 403
    contact.refresh_from_db()
    assert contact.minutes == 45
    assert not AuditEvent.objects.filter(action="contact.changed").exists()
    row = client.get(LOG).context["rows"][0]
    assert row["locked"] and not row["editable"]
    assert "Locked" in client.get(LOG).content.decode()


def test_only_the_author_may_correct_a_contact(world: World) -> None:
    contact = log_one(world)
    coordinator = world.client("coordinator")
    page = coordinator.get(f"{LOG}{contact.pk}/edit/")
    assert "Only the caseworker who logged a contact may change it." in page.content.decode()
    assert coordinator.post(f"{LOG}{contact.pk}/edit/", edit_form()).status_code == 403
    assert not AuditEvent.objects.filter(action="contact.changed").exists()


def test_a_caseworker_cannot_open_another_sites_contact(world: World) -> None:
    contact = log_one(world, persona="coordinator", participant=world.participants["OSLB"][0])
    assert world.client("caseworker").get(f"{LOG}{contact.pk}/edit/").status_code == 404


# Lists


def test_coordinator_sees_every_contact_and_filters_by_site_month_and_author(
    world: World,
) -> None:
    mine = log_one(world)
    theirs = log_one(world, persona="coordinator", participant=world.participants["BGO"][0])
    april = log_one(
        world,
        persona="coordinator",
        participant=world.participants["OSLB"][0],
        contact_on="2025-04-10",
    )
    coordinator = world.client("coordinator")

    def shown(client: Client, **query: str) -> list[int]:
        return [row["contact"].pk for row in client.get(ALL, query).context["rows"]]

    assert shown(coordinator) == [theirs.pk, mine.pk, april.pk]
    assert shown(coordinator, site="BGO") == [theirs.pk]
    assert shown(coordinator, month="2025-04") == [april.pk]
    author = str(world.users["caseworker"].pk)
    assert shown(coordinator, author=author) == [mine.pk]
    assert shown(coordinator, month="nonsense") == [theirs.pk, mine.pk, april.pk]
    page = coordinator.get(ALL)
    assert page.context["total_minutes"] == 135
    # A caseworker sees only the contacts at their own sites.
    assert shown(world.client("caseworker")) == [mine.pk]


def test_the_list_is_paginated(world: World) -> None:
    participant = world.participants["OSLA"][0]
    caseworker = world.users["caseworker"]
    Contact.objects.bulk_create(
        Contact(
            trial=world.trial,
            site=world.sites[0],
            participant=participant,
            author=caseworker,
            author_name="caseworker",
            contact_on=dt.date(2025, 5, 1),
            mode="phone",
            minutes=10,
            partners=["participant"],
        )
        for _ in range(55)
    )
    client = world.client("coordinator")
    first = client.get(ALL)
    assert len(first.context["rows"]) == 50 and first.context["page"].paginator.num_pages == 2
    assert len(client.get(ALL, {"page": 2}).context["rows"]) == 5


# The participant page


def test_participant_page_shows_contacts_and_the_exposure_flag_to_those_who_know_the_arm(
    world: World, components: dict[str, Component]
) -> None:
    participant = world.participants["OSLA"][0]
    allocate(world, participant, "B")
    log_one(world, components=[components["rapid"].pk], confirm_exposure="1")
    url = f"/trials/ips/participants/{participant.study_id}/"
    page = world.client("coordinator").get(url)
    panel = next(p for p in page.context["panels"] if p.template == "fidelity/contact_panel.html")
    assert panel.context["count"] == 1 and panel.context["minutes"] == 45
    assert panel.context["exposure"] == {
        "count": 1,
        "first": dt.date(2025, 5, 20),
        "sources": ["Logged contact"],
        "staff_risk": False,
    }
    html = page.content.decode()
    assert "Exposed to the intervention" in html
    entries = [e for e in page.context["timeline"] if e.kind == "contact"]
    assert [(e.day, e.title, e.detail) for e in entries] == [
        (dt.date(2025, 5, 20), "Contact: in person, 45 min", "Rapid job search")
    ]
    # A blinded statistician sees neither the contacts (their components reveal the arm) nor
    # the exposure flag.
    blinded = world.client("statistician").get(url)
    assert blinded.status_code == 200
    assert not [p for p in blinded.context["panels"] if p.template.startswith("fidelity/")]
    assert not [e for e in blinded.context["timeline"] if e.kind == "contact"]
    assert "Exposed to the intervention" not in blinded.content.decode()
    assert Exposure.objects.filter(participant=participant).count() == 1


def test_the_log_link_is_offered_only_for_an_active_participant(world: World) -> None:
    participant = world.participants["OSLA"][1]
    trial_services.withdraw_participant(
        participant,
        withdrawn_on=dt.date(2025, 5, 1),
        scope="no_contact",
        reason="Moved away",
        actor=world.users["coordinator"],
    )
    page = world.client("caseworker").get(f"/trials/ips/participants/{participant.study_id}/")
    assert f"{LOG}?participant=" not in page.content.decode()


def test_the_trial_menu_offers_the_contact_log_to_those_who_log_contacts(world: World) -> None:
    assert LOG in world.client("caseworker").get("/trials/ips/").content.decode()
    assert LOG not in world.client("statistician").get("/trials/ips/").content.decode()


def test_a_caseworker_at_two_sites_logs_for_both(world: World) -> None:
    user = factories.make_user("twosites")
    factories.make_membership(
        user, world.trial, Membership.Role.CASEWORKER, [world.sites[0], world.sites[2]]
    )
    client = Client()
    client.force_login(user)
    for participant in (world.participants["OSLA"][0], world.participants["BGO"][0]):
        assert client.post(LOG, form(participant)).status_code == 302
    assert sorted(Contact.objects.values_list("site__code", flat=True)) == ["BGO", "OSLA"]


# Contamination: warned before saving, told after


def test_caseworker_is_warned_before_logging_an_intervention_component_for_a_control_participant(
    world: World, components: dict[str, Component]
) -> None:
    participant = world.participants["OSLA"][0]
    allocate(world, participant, "B")
    client = world.client("caseworker")
    values = form(participant, components=[components["rapid"].pk, components["benefits"].pk])
    first = client.post(LOG, values)
    # Not saved yet: the form comes back with the warning and a button that confirms.
    assert first.status_code == 200
    page = first.content.decode()
    assert "This contact will be recorded as a contamination exposure." in page
    assert f"{participant.study_id} is in a control arm" in page
    assert "Rapid job search." in page.split('id="exposure-warning"')[1].split("</div>")[0]
    assert "Benefits counselling" not in page.split('id="exposure-warning"')[1].split("</div>")[0]
    assert 'name="confirm_exposure" value="1"' in page
    assert not Contact.objects.exists()
    # Confirmed: it is recorded, and the message after saving says what was recorded.
    second = client.post(LOG, values | {"confirm_exposure": "1"}, follow=True)
    assert second.redirect_chain[-1][1] == 302
    messages = [str(m) for m in second.context["messages"]]
    assert messages == [
        f"Contact with {participant.study_id} logged.",
        f"A contamination exposure was recorded: {participant.study_id} is in a control arm "
        "and received Rapid job search.",
    ]
    contact = Contact.objects.get()
    assert list(
        Exposure.objects.filter(contact=contact).values_list("component__code", flat=True)
    ) == ["rapid"]


def test_no_warning_for_an_intervention_participant_or_usual_services(
    world: World, components: dict[str, Component]
) -> None:
    treated, control = world.participants["OSLA"]
    allocate(world, treated, "A")
    allocate(world, control, "B")
    client = world.client("caseworker")
    for participant, chosen in ((treated, "rapid"), (control, "benefits")):
        response = client.post(LOG, form(participant, components=[components[chosen].pk]))
        assert response.status_code == 302
    assert Contact.objects.count() == 2
    assert not Exposure.objects.exists()


def test_a_correction_that_adds_an_intervention_component_is_warned_about(
    world: World, components: dict[str, Component]
) -> None:
    participant = world.participants["OSLA"][0]
    allocate(world, participant, "B")
    contact = log_one(world, components=[components["benefits"].pk])
    client = world.client("caseworker")
    edit = f"{LOG}{contact.pk}/edit/"
    values = edit_form(components=[components["benefits"].pk, components["jobdev"].pk])
    first = client.post(edit, values)
    assert first.status_code == 200
    assert "This contact will be recorded as a contamination exposure." in first.content.decode()
    assert not Exposure.objects.exists()
    second = client.post(edit, values | {"confirm_exposure": "1"}, follow=True)
    assert "A contamination exposure was recorded" in second.content.decode()
    assert Exposure.objects.filter(contact=contact).count() == 1
    # Changing something else later does not warn again about the recorded exposure.
    again = client.post(edit, values | {"minutes": "25"})
    assert again.status_code == 302


def test_a_caseworker_blind_to_allocations_is_not_told_the_arm(
    world: World, components: dict[str, Component], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Decision (docs/decisions.md): the warning exists only for control participants, so a
    caseworker who may not see allocations gets no warning and no message naming the arm;
    the components field says the rule to everyone alike. The exposure is still recorded."""
    from trial import permissions

    role = Membership.Role.CASEWORKER
    blind = permissions.ROLE_PERMS[role] - {permissions.Perm.VIEW_ALLOCATION}
    monkeypatch.setitem(permissions.ROLE_PERMS, role, blind)
    participant = world.participants["OSLA"][0]
    allocate(world, participant, "B")
    client = world.client("caseworker")
    empty = client.get(LOG).content.decode()
    assert (
        "delivered to a participant in a control arm, they are recorded as a contamination" in empty
    )
    assert "Rapid job search (intervention-specific)" in empty
    response = client.post(LOG, form(participant, components=[components["rapid"].pk]), follow=True)
    page = response.content.decode()
    assert "control arm" not in page.replace(
        "delivered to a participant in a control arm, they are recorded", ""
    )
    assert "exposure was recorded" not in page
    assert Exposure.objects.filter(participant=participant).count() == 1
