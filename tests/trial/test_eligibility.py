"""Eligibility ranges: a baseline value outside its covariate's eligibility range is refused,
or accepted after a warning, as the trial sets, on entry (service, page, API) and in the
whole-trial import."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from tests import factories
from tests.conftest import World
from trial import services
from trial.models import AuditEvent, CovariateDefinition, Participant, Trial
from trial.services import TrialError
from trial.setup import services as setup
from trialimport import services as importing

DAY = dt.date(2025, 1, 31)


@pytest.fixture
def age(world: World) -> CovariateDefinition:
    return setup.add_covariate(
        world.trial,
        key="age",
        label="Age (years)",
        kind=CovariateDefinition.Kind.INTEGER,
        min_value=Decimal(16),
        max_value=Decimal(67),
        eligible_min=Decimal(18),
        eligible_max=Decimal(29),
        actor=world.users["coordinator"],
    )


def warn(world: World) -> None:
    Trial.objects.filter(pk=world.trial.pk).update(eligibility_check=Trial.EligibilityCheck.WARN)
    world.trial.refresh_from_db()


def enrol(world: World, age: Any, **overrides: Any) -> Participant:
    values: dict[str, Any] = {
        "site": world.sites[0],
        "personal_number": factories.personal_number(),
        "enrolled_on": DAY,
        "consent_version": "2.0",
        "consent_date": DAY,
        "baseline": {"age": age},
        "actor": world.users["coordinator"],
    }
    values.update(overrides)
    return services.enrol_participant(world.trial, **values)


# The rules


def test_a_trial_refuses_a_value_outside_the_range_by_default(
    world: World, age: CovariateDefinition
) -> None:
    before = Participant.objects.count()
    with pytest.raises(services.EligibilityError) as refused:
        enrol(world, 45)
    assert refused.value.refused
    assert refused.value.errors == {"age": "45 is outside the eligibility range (18–29)."}
    # Even a confirmation does not enrol when the trial refuses.
    with pytest.raises(services.EligibilityError):
        enrol(world, 45, accept_ineligible=True)
    assert Participant.objects.count() == before
    assert enrol(world, 18).baseline == {"age": 18}
    assert enrol(world, 29).baseline == {"age": 29}


def test_a_warning_trial_asks_for_confirmation_and_audits_the_enrolment(
    world: World, age: CovariateDefinition
) -> None:
    warn(world)
    with pytest.raises(services.EligibilityError) as asked:
        enrol(world, 45)
    assert not asked.value.refused
    participant = enrol(world, 45, accept_ineligible=True)
    assert participant.baseline == {"age": 45}
    event = AuditEvent.objects.get(action="participant.enrolled_outside_eligibility")
    assert event.target_id == str(participant.pk)
    assert event.data == {"covariates": {"age": 45}}
    # Inside the range, nothing to confirm and nothing extra audited.
    enrol(world, 20)
    assert AuditEvent.objects.filter(action="participant.enrolled_outside_eligibility").count() == 1


def test_possible_values_are_still_refused_whatever_the_trial_sets(
    world: World, age: CovariateDefinition
) -> None:
    warn(world)
    with pytest.raises(services.BaselineError) as refused:
        enrol(world, 70, accept_ineligible=True)
    assert not isinstance(refused.value, services.EligibilityError)
    assert refused.value.errors == {"age": "Must be at most 67."}


def test_one_sided_ranges(world: World) -> None:
    covariate = setup.add_covariate(
        world.trial,
        key="months",
        label="Months out of work",
        kind=CovariateDefinition.Kind.INTEGER,
        eligible_min=Decimal(6),
        actor=world.users["coordinator"],
    )
    assert covariate.eligibility_range == "6 or more"
    assert services.eligibility_problems(world.trial, {"months": 3}) == {
        "months": "3 is outside the eligibility range (6 or more)."
    }
    assert services.eligibility_problems(world.trial, {"months": 6}) == {}


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"kind": "choice", "choices": [["a", "A"]], "eligible_min": Decimal(1)}, "eligible_min"),
        ({"eligible_min": Decimal(30), "eligible_max": Decimal(18)}, "eligible_max"),
        ({"min_value": Decimal(16), "eligible_min": Decimal(15)}, "eligible_min"),
        ({"max_value": Decimal(67), "eligible_max": Decimal(70)}, "eligible_min"),
    ],
)
def test_set_up_refuses_inconsistent_ranges(
    world: World, values: dict[str, Any], field: str
) -> None:
    given: dict[str, Any] = {"key": "x", "label": "X", "kind": "integer"} | values
    with pytest.raises(TrialError) as refused:
        setup.add_covariate(world.trial, actor=world.users["coordinator"], **given)
    assert refused.value.field == field


# Entry: the enrolment page and the API


def page_form(world: World, age: str, **extra: str) -> dict[str, str]:
    return {
        "site": str(world.sites[0].pk),
        "personal_number": factories.personal_number(),
        "enrolled_on": "2025-01-31",
        "consent_version": "2.0",
        "consent_date": "2025-01-31",
        "baseline_age": age,
        **extra,
    }


def test_enrolment_page_refuses_at_the_field(world: World, age: CovariateDefinition) -> None:
    client = world.client("coordinator")
    page = client.get("/trials/ips/enrol/").content.decode()
    assert "Eligible: 18–29." in page  # said before anything is typed
    response = client.post("/trials/ips/enrol/", page_form(world, "45"))
    assert response.status_code == 200
    assert response.context["form"].errors["baseline_age"] == [
        "45 is outside the eligibility range (18–29)."
    ]
    assert "the trial does not enrol such a person" in response.content.decode()
    assert 'name="confirm_ineligible"' not in response.content.decode()


def test_enrolment_page_warns_then_enrols_on_confirmation(
    world: World, age: CovariateDefinition
) -> None:
    warn(world)
    client = world.client("coordinator")
    data = page_form(world, "45")
    first = client.post("/trials/ips/enrol/", data)
    assert first.status_code == 200
    page = first.content.decode()
    assert "Outside the trial's eligibility criteria" in page
    assert "Age (years): 45 is outside the eligibility range (18–29)." in page
    assert 'name="confirm_ineligible"' in page
    assert not Participant.objects.filter(baseline__age=45).exists()
    second = client.post("/trials/ips/enrol/", data | {"confirm_ineligible": "1"}, follow=True)
    participant = Participant.objects.get(baseline__age=45)
    messages = [str(m) for m in second.context["messages"]]
    assert messages[1] == (
        f"{participant.study_id} is enrolled outside the eligibility criteria, as you "
        "confirmed: Age (years): 45 is outside the eligibility range (18–29). The audit trail "
        "records it."
    )


def api_body(world: World, age: int, **extra: Any) -> dict[str, Any]:
    return {
        "site": world.sites[0].code,
        "personal_number": factories.personal_number(),
        "enrolled_on": "2025-01-31",
        "consent_version": "2.0",
        "consent_date": "2025-01-31",
        "baseline": {"age": age},
        **extra,
    }


def test_api_refuses_or_asks_for_accept_ineligible(world: World, age: CovariateDefinition) -> None:
    client = world.client("coordinator")
    url = "/api/v1/trials/ips/participants/"
    refused = client.post(url, api_body(world, 45), content_type="application/json")
    assert refused.status_code == 400
    assert refused.json()["errors"] == {
        "baseline": {"age": ["45 is outside the eligibility range (18–29)."]}
    }
    warn(world)
    asked = client.post(url, api_body(world, 45), content_type="application/json")
    assert asked.status_code == 400
    accepted = client.post(
        url, api_body(world, 45, accept_ineligible=True), content_type="application/json"
    )
    assert accepted.status_code == 201, accepted.json()
    assert accepted.json()["baseline"] == {"age": 45}


# The import


def participants_csv(world: World, rows: list[tuple[str, int]]) -> dict[str, bytes]:
    lines = ["study_id,site,enrolled_on,consent_version,consent_date,age"]
    lines += [f"{sid},{world.sites[0].code},2025-01-31,2.0,2025-01-31,{a}" for sid, a in rows]
    return {"participants.csv": ("\n".join(lines) + "\n").encode()}


def test_import_refuses_a_value_outside_the_range_on_its_cell(
    world: World, age: CovariateDefinition
) -> None:
    files = participants_csv(world, [("IMP-1", 24), ("IMP-2", 45)])
    report = importing.import_trial(files, actor=world.users["coordinator"], trial=world.trial)
    assert [str(e) for e in report.errors] == [
        "participants.csv:3: age: 45 is outside the eligibility range (18–29)."
    ]
    assert not report.written
    assert not Participant.objects.filter(study_id__startswith="IMP-").exists()


def test_import_accepts_with_a_warning_when_the_trial_says_so(
    world: World, age: CovariateDefinition
) -> None:
    warn(world)
    files = participants_csv(world, [("IMP-1", 24), ("IMP-2", 45)])
    report = importing.import_trial(files, actor=world.users["coordinator"], trial=world.trial)
    assert report.ok and report.written
    assert [str(w) for w in report.warnings] == [
        "participants.csv:3: age: 45 is outside the eligibility range (18–29)."
    ]
    stored = report.as_json(10)
    assert stored["warning_count"] == 1
    assert stored["warnings"][0]["column"] == "age"
    assert Participant.objects.get(study_id="IMP-2").baseline == {"age": 45}
    assert AuditEvent.objects.filter(action="participant.enrolled_outside_eligibility").count() == 1


def test_a_new_trial_brings_its_ranges_and_setting_in_its_files(world: World) -> None:
    files = {
        "trial.csv": b"code,title,eligibility_check\nyoung,Young adults,warn\n",
        "arms.csv": b"code,name,is_control\nA,IPS,no\nB,Usual,yes\n",
        "sites.csv": b"code,name\nOSL1,NAV Oslo\n",
        "covariates.csv": (
            b"key,label,kind,min_value,max_value,eligible_min,eligible_max\n"
            b"age,Age,integer,16,67,18,29\n"
        ),
        "participants.csv": (
            b"study_id,site,enrolled_on,consent_version,consent_date,age\n"
            b"Y-1,OSL1,2025-01-31,1,2025-01-31,45\n"
        ),
    }
    report = importing.import_trial(files, actor=world.users["coordinator"])
    assert report.ok, report.errors
    trial = Trial.objects.get(code="young")
    assert trial.eligibility_check == Trial.EligibilityCheck.WARN
    assert trial.covariates.get().eligibility_range == "18–29"
    assert [w.column for w in report.warnings] == ["age"]


# Set-up pages


def test_set_up_shows_and_edits_the_ranges_and_the_setting(
    world: World, age: CovariateDefinition
) -> None:
    client = world.client("coordinator")
    overview = client.get("/trials/ips/setup/").content.decode()
    assert "18–29" in overview and "Refuse the participant" in overview
    response = client.post(
        f"/trials/ips/setup/covariates/{age.pk}/",
        {
            "key": "age",
            "label": "Age (years)",
            "kind": "integer",
            "min_value": "16",
            "max_value": "67",
            "eligible_min": "18",
            "eligible_max": "30",
            "required": "on",
            "order": "0",
        },
    )
    assert response.status_code == 302
    age.refresh_from_db()
    assert age.eligible_max == Decimal(30)
    settings_page = client.get("/trials/ips/setup/settings/").content.decode()
    assert 'name="eligibility_check"' in settings_page


def test_the_import_page_lists_the_warnings(world: World, age: CovariateDefinition) -> None:
    from trialimport.models import TrialImport

    warn(world)
    files = participants_csv(world, [("IMP-1", 45)])
    report = importing.import_trial(
        files, actor=world.users["coordinator"], trial=world.trial, dry_run=True
    )
    assert report.ok and not report.written
    trial_import = TrialImport.objects.create(
        trial=world.trial,
        status=TrialImport.Status.CHECKED,
        uploaded_by_name="coordinator",
        report=report.as_json(50),
    )
    page = world.client("datamanager").get(f"/trials/ips/import/{trial_import.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "1 warning: the row is accepted; check it (line 1 is the header)" in html
    assert "45 is outside the eligibility range (18–29)." in html


def test_settings_page_sets_what_values_outside_the_ranges_do(world: World) -> None:
    client = world.client("coordinator")
    settings = {
        "title": world.trial.title,
        "registry_id": "",
        "design": world.trial.design,
        "target_size": "100",
        "description": "",
        "contamination_question": "",
    }
    assert client.post("/trials/ips/setup/settings/", settings).status_code == 302
    world.trial.refresh_from_db()
    assert world.trial.eligibility_check == Trial.EligibilityCheck.REFUSE  # left out: kept
    response = client.post("/trials/ips/setup/settings/", settings | {"eligibility_check": "warn"})
    assert response.status_code == 302
    world.trial.refresh_from_db()
    assert world.trial.eligibility_check == Trial.EligibilityCheck.WARN
    event = AuditEvent.objects.filter(action="trial.changed").last()
    assert event is not None and "eligibility_check" in event.data["changes"]
