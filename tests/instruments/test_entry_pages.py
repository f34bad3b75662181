"""The data-entry page of a visit and the correction page, built from instrument definitions."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
import time_machine
from django.test import Client

from instruments import services
from instruments.forms import MISSING_SUFFIX
from instruments.models import Assessment, Instrument
from tests.conftest import World
from tests.instruments.entry import add_wellbeing, visit_at
from trial import services as trial_services
from trial.models import AuditEvent, Visit

pytestmark = pytest.mark.usefixtures("today")


@pytest.fixture
def today() -> Any:
    with time_machine.travel(dt.datetime(2025, 6, 2, 9, tzinfo=dt.UTC), tick=False):
        yield


def url(visit: Visit) -> str:
    return f"/trials/ips/visits/{visit.pk}/assess/"


def wellbeing_post(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "instrument": "wellbeing",
        "wellbeing-assessed_on": "2025-06-01",
        "wellbeing-mood_1": "2",
        "wellbeing-mood_2": "1",
        "wellbeing-mood_3": "3",
        "wellbeing-worked": "1",
        "wellbeing-work_hours": "12.5",
        "wellbeing-supports": ["1", "3"],
        "wellbeing-contract": "temp",
    }
    for key, value in overrides.items():
        name = "instrument" if key == "instrument" else f"wellbeing-{key}"
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def employment_post(**overrides: Any) -> dict[str, Any]:
    data = {
        "instrument": "employment",
        "employment-assessed_on": "2025-06-01",
        "employment-in_paid_work": "0",
        "employment-on_benefits": "1",
        "employment-benefit_type": "social_assistance",
        "employment-self_rated_health": "4",
    }
    data.update(overrides)
    return data


def text(response: Any) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def test_outsiders_get_404_and_members_without_the_capability_403(world: World) -> None:
    own = visit_at(world)
    other_site = visit_at(world, "BGO")
    assert world.client("outsider").get(url(own)).status_code == 404
    assert world.client("statistician").get(url(own)).status_code == 403
    caseworker = world.client("caseworker")
    assert caseworker.get(url(own)).status_code == 200
    assert caseworker.get(url(other_site)).status_code == 404
    assert caseworker.post(url(other_site), employment_post()).status_code == 404
    assert not Assessment.objects.exists()


def test_the_page_shows_each_instrument_of_the_visit_as_its_own_form(world: World) -> None:
    visit = visit_at(world)
    add_wellbeing(world)
    page = text(world.client("caseworker").get(url(visit)))
    assert page.count('<form method="post" class="stacked instrument-form"') == 2
    assert 'id="instrument-employment"' in page and 'id="instrument-wellbeing"' in page
    assert '<input type="hidden" name="instrument" value="wellbeing">' in page
    # Branching: the raw condition on the item, in words for a reader without JavaScript.
    assert 'data-item="work_hours" data-show-if="[worked] = &#x27;1&#x27;"' in page
    assert "Asked only when: Worked last week is Yes." in page
    assert 'src="/static/js/branching.js"' in page
    assert "<script>" not in page  # the Content-Security-Policy allows no inline script
    # A scale item's choices as radios in a fieldset, the required mark, the missing code.
    assert re.search(
        r'<fieldset class="answer"[^>]*> <legend>Mood question 1 <span class="required" '
        r'aria-hidden="true">\*</span><span class="visually-hidden"> \(required\)</span>',
        page,
    )
    assert 'name="wellbeing-mood_1" value="3"' in page
    assert f'name="wellbeing-mood_1{MISSING_SUFFIX}"' in page
    assert 'aria-label="Missing-data code for Mood question 1"' in page
    assert 'type="number" name="wellbeing-work_hours"' in page and 'step="0.1"' in page
    assert "0 to 80 h · at most 1 decimal · Paid hours only." in page


def test_saving_one_instrument_records_it_and_shows_it_read_only(world: World) -> None:
    visit = visit_at(world)
    wellbeing = add_wellbeing(world)
    client = world.client("caseworker")
    response = client.post(url(visit), wellbeing_post())
    assert response.status_code == 302
    assert response["Location"] == url(visit)
    record = Assessment.objects.get(visit=visit, instrument=wellbeing)
    assert record.values == {
        "mood_1": 2,
        "mood_2": 1,
        "mood_3": 3,
        "worked": True,
        "work_hours": 12.5,
        "supports": [1, 3],
        "contract": "temp",
    }
    assert record.scores == {"mood_total": 6.0}
    assert record.recorded_by == world.users["caseworker"]
    visit.refresh_from_db()
    assert visit.completed_on is None  # the employment instrument is asked too
    page = text(client.get(url(visit)))
    assert "Wellbeing at work recorded." in page
    assert page.count('class="stacked instrument-form"') == 1  # only employment is left
    assert '<th scope="row">Mood score</th><td class="num">6</td><td>moderate</td>' in page
    assert '<th scope="row">Support received</th><td>Job coach, Adapted tasks</td>' in page
    assert f'href="/trials/ips/assessments/{record.pk}/correct/"' in page
    assert client.post(url(visit), employment_post()).status_code == 302
    visit.refresh_from_db()
    assert visit.completed_on == dt.date(2025, 6, 1)
    again = client.post(url(visit), wellbeing_post())
    assert again.status_code == 200
    assert "This instrument cannot be recorded at this visit." in text(again)
    assert Assessment.objects.filter(visit=visit).count() == 2


def test_refused_answers_show_next_to_their_items_and_nothing_is_saved(world: World) -> None:
    visit = visit_at(world)
    add_wellbeing(world)
    events = AuditEvent.objects.count()
    response = world.client("caseworker").post(
        url(visit),
        wellbeing_post(
            mood_2="7",
            mood_3=None,
            worked="0",
            work_hours="81",
            **{"mood_1": "1", "low_mood_note": "hidden"},
        ),
    )
    assert response.status_code == 200
    page = text(response)
    assert "Nothing was saved: correct the answers marked below." in page
    assert (
        '<ul class="errorlist" id="id_wellbeing-mood_2_error"><li>Choose one of: 0, 1, 2, 3.</li>'
        in page
    )
    assert (
        'id="id_wellbeing-mood_3_error"><li>This item is required: answer it or choose a ' in page
    )
    assert (
        'id="id_wellbeing-work_hours_error"><li>This item is not asked here: leave it empty.'
        in (page)
    )
    # The hidden item's answer stays in the form, with the explanation beside it.
    assert 'value="81"' in page
    assert "Asked only when: Worked last week is Yes." in page
    assert not Assessment.objects.exists()
    assert AuditEvent.objects.count() == events


def test_the_assessment_date_is_checked_by_the_service_and_shown_on_its_field(
    world: World,
) -> None:
    visit = visit_at(world)
    add_wellbeing(world)
    response = world.client("coordinator").post(
        url(visit), wellbeing_post(assessed_on="2025-07-01")
    )
    assert response.status_code == 200
    assert (
        'id="id_wellbeing-assessed_on_error"><li>The assessment date cannot be in the future.'
        in text(response)
    )
    assert not Assessment.objects.exists()


def test_a_correction_needs_a_reason_and_keeps_it_in_the_audit_trail(world: World) -> None:
    visit = visit_at(world)
    wellbeing = add_wellbeing(world)
    client = world.client("caseworker")
    client.post(url(visit), wellbeing_post())
    record = Assessment.objects.get(instrument=wellbeing)
    correct = f"/trials/ips/assessments/{record.pk}/correct/"
    page = text(client.get(correct))
    assert 'name="wellbeing-mood_1" value="2" id="id_wellbeing-mood_1_2" checked' in page
    assert 'name="wellbeing-work_hours" value="12.5"' in page
    assert 'name="correction-assessed_on" value="2025-06-01"' in page
    data = {
        **{k: v for k, v in wellbeing_post(mood_3="0").items() if k != "instrument"},
        "correction-assessed_on": "2025-06-01",
        "correction-reason": "",
    }
    missing_reason = client.post(correct, data)
    assert missing_reason.status_code == 200
    assert 'id="id_correction-reason_error"><li>This field is required.' in text(missing_reason)
    record.refresh_from_db()
    assert record.values["mood_3"] == 3
    data["correction-reason"] = "Typed 3 for 0"
    assert client.post(correct, data)["Location"] == url(visit)
    record.refresh_from_db()
    assert record.values["mood_3"] == 0 and record.scores == {"mood_total": 3.0}
    event = AuditEvent.objects.get(action="assessment.corrected", target_id=str(record.pk))
    assert event.data["reason"] == "Typed 3 for 0"
    assert event.actor == world.users["caseworker"]
    assert event.data["changes"]["values"][0]["mood_3"] == 3
    bad = client.post(correct, {**data, "wellbeing-work_hours": "800"})
    assert 'id="id_wellbeing-work_hours_error"><li>Must be at most 80.' in text(bad)
    assert world.client("outsider").get(correct).status_code == 404
    assert world.client("statistician").get(correct).status_code == 403


def test_a_caseworker_cannot_correct_answers_at_another_site(world: World) -> None:
    visit = visit_at(world, "BGO")
    record = services.record_assessment(
        visit,
        values={
            "assessed_on": "2025-06-01",
            "in_paid_work": False,
            "on_benefits": False,
        },
        actor=world.users["coordinator"],
    )
    correct = f"/trials/ips/assessments/{record.pk}/correct/"
    assert world.client("caseworker").get(correct).status_code == 404
    assert world.client("coordinator").get(correct).status_code == 200


def test_no_new_data_for_a_withdrawn_participant(world: World) -> None:
    visit = visit_at(world)
    add_wellbeing(world)
    trial_services.withdraw_participant(
        visit.participant,
        withdrawn_on=dt.date(2025, 5, 1),
        scope="no_data",
        reason="Moved",
        actor=world.users["coordinator"],
    )
    client = world.client("caseworker")
    page = text(client.get(url(visit)))
    assert "withdrew from the trial on 2025-05-01" in page
    assert "instrument-form" not in page
    response = client.post(url(visit), wellbeing_post())
    assert response.status_code == 200
    assert not Assessment.objects.exists()


def test_the_pages_speak_norwegian(world: World) -> None:
    visit = visit_at(world)
    add_wellbeing(world)
    client: Client = world.client("caseworker")
    client.cookies["django_language"] = "nb"
    page = text(client.get(url(visit), HTTP_ACCEPT_LANGUAGE="nb"))
    assert "Arbeidet forrige uke" in page
    assert "Spørres bare når: Arbeidet forrige uke er Ja." in page
    assert "Spørsmål merket * må besvares." in page
    assert "Lagre Trivsel i arbeid" in page


def test_the_participant_page_shows_each_visits_instruments_and_their_scores(
    world: World,
) -> None:
    visit = visit_at(world)
    add_wellbeing(world)
    client = world.client("caseworker")
    client.post(url(visit), wellbeing_post())
    page = text(client.get(f"/trials/ips/participants/{visit.participant.study_id}/"))
    assert "Instruments by visit" in page
    assert (
        'Wellbeing at work: <span class="badge answered">answered 2025-06-01</span> '
        '<span class="score">Mood score: 6 (moderate)</span>'
    ) in page
    assert re.search(r"Employment and benefits: <span class=\"muted\">not answered</span>", page)
    assert f'href="/trials/ips/visits/{visit.pk}/assess/"' in page
    # One timeline entry per answered instrument, with the scores.
    assert page.count("timeline-assessment") == 1
    assert (
        "<strong>Assessment: 3 months</strong> "
        '<span class="muted">Wellbeing at work · Mood score: 6 (moderate)</span>'
    ) in page


def test_the_default_instrument_is_asked_when_a_visit_has_none_attached(world: World) -> None:
    visit = visit_at(world)
    client = world.client("caseworker")
    page = text(client.get(url(visit)))
    assert page.count("instrument-form") == 1 and "Employment and benefits" in page
    response = client.post(url(visit), employment_post())
    assert response.status_code == 302
    record = Assessment.objects.get(visit=visit)
    assert record.instrument == Instrument.objects.get(trial=world.trial, code="employment")
    assert record.values == {
        "in_paid_work": False,
        "on_benefits": True,
        "benefit_type": "social_assistance",
        "self_rated_health": 4,
    }
    visit.refresh_from_db()
    assert visit.completed_on == dt.date(2025, 6, 1)


def test_the_contamination_question_is_asked_once_per_visit_of_everyone(world: World) -> None:
    world.trial.contamination_question = "Has anyone helped you look for ordinary paid work?"
    world.trial.save(update_fields=["contamination_question"])
    visit = visit_at(world)
    add_wellbeing(world)
    client = world.client("caseworker")
    page = text(client.get(url(visit)))
    # In each instrument's form, for the first one recorded to carry.
    assert page.count("Has anyone helped you look for ordinary paid work?") == 2
    data = wellbeing_post(contamination_reported="yes")
    assert client.post(url(visit), data).status_code == 302
    visit.refresh_from_db()
    assert visit.contamination_reported is True
    # The visit's answer so far is the next form's starting point.
    page = text(client.get(url(visit)))
    assert re.search(r'name="employment-contamination_reported" value="yes"[^>]*checked', page)
    refused = client.post(
        url(visit), {**employment_post(), "employment-contamination_reported": "x"}
    )
    assert refused.status_code == 200
    assert "Select a valid choice." in text(refused)
