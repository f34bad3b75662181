"""Property-based fuzzing of the whole API against its own OpenAPI schema (schemathesis).

The application runs in process (its WSGI handler) on the test database, seeded with a small
demo trial, once as a coordinator and once as a caseworker (limited to two sites), each with a
token. Path parameters name real objects the persona may use, and filters and the codes inside
bodies are mostly drawn from the trial, so that requests reach past the 404s into the views;
the rest is generated from the schema. Every operation gets the examples in the schema,
schemathesis' coverage cases (boundaries, missing, blank and wrong-typed values, unexpected
methods) and MAX_EXAMPLES generated cases, with a fixed seed and deterministic generation so
that a run repeats.

Every check schemathesis has runs (as ``st run --checks all``; max_response_time is off, as it
is without a limit): no 5xx; documented status codes, content types and headers; bodies
matching the schema; input the schema refuses is refused (negative_data_rejection) and input
it allows is accepted (positive_data_acceptance); a missing or wrong token is refused
(ignored_auth); unexpected methods get 405 with Allow. One thing a schema cannot state is
allowed for: see SHAPE_MESSAGES.

docs/api.md gives the figures of a run; ``API_FUZZ_LOG=<file>`` writes one JSON line per case
(persona, operation, phase, positive or negative, status, failed checks) to count them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from schemathesis.core.failures import Failure, FailureGroup

from accounts.models import ApiToken
from demo.seed import seed_demo
from fidelity.contacts import services as fidelity_services
from fidelity.contamination import services as contamination
from fidelity.models import Adaptation, Contact, Review
from instruments import services as instrument_services
from instruments.models import Instrument
from instruments.setup.services import default_instrument
from occupations.models import JobExposureMatrix
from pathways.models import SpellState
from reports import services as reports
from tests.conftest import api_token
from trial.models import Membership, Participant, Trial, Visit, VisitDefinition
from trial.services import generate_visits

MAX_EXAMPLES = 10
PARTICIPANTS = 8
SEED = 20260601
AS_OF = dt.date(2026, 6, 1)
# How often a parameter bound to the trial's real values takes one of them (else a generated one).
REAL_VALUE_PROBABILITY = 0.85

PERSONAS = ("coordinator", "caseworker")

# Input can follow the schema and still be refused with a 400, because it breaks a rule of the
# trial's data that no OpenAPI schema can state: a code the trial does not have (a site, a
# component, a covariate, a participant), a date before the participant's enrolment or
# randomisation or after today, a field required by another's value (a contact with no
# participant needs a site; a reason only when not eligible), or a step already taken (already
# randomised, the visit closed, the consensus recorded, the analysis unblinded). The services
# enforce these rules (STYLE.md: serializers check shape, services rules); docs/api.md lists
# them. positive_data_acceptance therefore lets a 400 pass when none of its messages is one of
# a field's shape messages below, which the schema does state, so a 400 for a blank, missing,
# mistyped, too long or unknown-choice value still fails the run.
SHAPE_MESSAGES = re.compile(
    r"This field is required|This field may not be (blank|null)|Not a valid string"
    r"|Must be a valid (boolean|UUID)|A valid (integer|number) is required"
    r"|Ensure this (field|value) has|Ensure this value is (less|greater)"
    r"|is not a valid choice|Date has wrong format|Expected a (list|dictionary)"
    r"|Incorrect type|Invalid data"
)


def messages(errors: Any) -> list[str]:
    """Every message of a 400 body's ``errors``, however nested."""
    if isinstance(errors, dict):
        return [m for value in errors.values() for m in messages(value)]
    if isinstance(errors, list):
        return [m for value in errors for m in messages(value)]
    return [str(errors)]


def refused_by_a_rule(response: Any) -> bool:
    """A 400 whose messages are all rule refusals (none a shape message)."""
    if response.status_code != 400:
        return False
    try:
        found = messages(json.loads(response.text).get("errors", {}))
    except ValueError:
        return False
    return bool(found) and not any(SHAPE_MESSAGES.search(m) for m in found)


def path_objects(trial: Trial, coordinator: Any, user: Any) -> dict[str, Any]:
    """One real object for each path parameter, chosen so that ``user``'s requests reach the
    views' work: a participant they see with an open visit, a contact they may still correct,
    a report."""
    visit = (
        Visit.objects.filter(
            participant__in=Participant.objects.filter(trial=trial).visible_to(user),
            participant__status=Participant.Status.ACTIVE,
            completed_on__isnull=True,
            missed=False,
        )
        .select_related("participant__site")
        .order_by("due_on", "pk")
        .first()
    )
    assert visit is not None
    participant = visit.participant
    contact, _created = fidelity_services.log_contact(
        trial,
        actor=user,
        participant=participant,
        site=participant.site,
        contact_on=participant.enrolled_on,
        mode=Contact.Mode.PHONE,
        minutes=30,
        partners=[Contact.Partner.PARTICIPANT],
        components=[],
    )
    # A site-level event the removal endpoint can name (the small demo may have none).
    site_event = contamination.record_site_event(
        trial,
        site=participant.site,
        occurred_on=participant.enrolled_on,
        components=[],
        note="Staff at the office attended a course in the method.",
        actor=coordinator,
    )[0][0]
    report = reports.request_report(trial, kind="effect", cut_off=AS_OF, actor=coordinator)
    # Answers the user may correct, at a visit of the participant's own (a visit definition
    # of the test's, so that the open visit above stays open for recording).
    extra = VisitDefinition.objects.create(
        trial=trial, code="fuzz", label="Fuzzing", offset_months=1
    )
    assert participant.randomised_on is not None
    generate_visits(participant, randomised_on=participant.randomised_on)
    answered = Visit.objects.get(participant=participant, definition=extra)
    assessment = instrument_services.record_assessment(
        answered,
        values={
            "assessed_on": answered.participant.randomised_on,
            "in_paid_work": False,
            "on_benefits": False,
        },
        actor=coordinator,
    )
    instrument = default_instrument(trial, actor=coordinator)
    objects = {
        "code": trial.code,
        "study_id": participant.study_id,
        "visit_id": visit.pk,
        "contact_id": contact.pk,
        "report_id": report.pk,
        "review_id": Review.objects.filter(trial=trial).order_by("pk").first(),
        "id": JobExposureMatrix.objects.filter(trial=trial).first(),
        "adaptation_id": Adaptation.objects.filter(trial=trial).first(),
        "exposure_id": site_event,
        "assessment_id": assessment,
        "instrument": instrument.code,
    }
    return {
        name: getattr(value, "pk", value) for name, value in objects.items() if value is not None
    }


def real_values(trial: Trial, user: Any) -> dict[str, list[Any]]:
    """Values of the trial that query and body parameters are mostly drawn from (the sites and
    participants ``user`` sees)."""
    study_ids = Participant.objects.filter(trial=trial).visible_to(user).order_by("study_id")
    sites = study_ids.values_list("site__code", flat=True).distinct().order_by("site__code")
    return {
        "site": list(sites),
        "participant": list(study_ids.values_list("study_id", flat=True)[:8]),
        "study_id": list(study_ids.values_list("study_id", flat=True)[:8]),
        "visit": list(trial.visit_definitions.values_list("code", flat=True)),
        "state": list(SpellState.objects.filter(trial=trial).values_list("code", flat=True)),
        "components": list(trial.components.values_list("code", flat=True)),
        "exclusion_reason": list(trial.exclusion_reasons.values_list("code", flat=True)),
        "instrument": list(Instrument.objects.filter(trial=trial).values_list("code", flat=True)),
    }


@pytest.fixture(params=PERSONAS)
def api_schema(
    request: pytest.FixtureRequest, require_postgres: None, settings: Any
) -> Iterator[Any]:
    # The fuzzing sends thousands of requests a minute, many without a token (ignored_auth):
    # the throttles (tests/config/test_api_throttles.py) would answer them 429.
    settings.API_THROTTLE_RATES = {"anon": None, "user": None}
    trial = seed_demo(participants=PARTICIPANTS, seed=7, as_of=AS_OF).trial
    coordinator = Membership.objects.get(trial=trial, role=Membership.Role.COORDINATOR).user
    user = Membership.objects.get(trial=trial, user__username=request.param).user
    token = api_token(user)
    parameters: dict[str, Any] = {
        f"path.{name}": value for name, value in path_objects(trial, coordinator, user).items()
    }
    values = real_values(trial, user)
    dictionaries = {name: {"values": value} for name, value in values.items()}
    for name in dictionaries:
        for where in ("query", "body"):
            parameters[f"{where}.{name}"] = {
                "dictionary": name,
                "probability": REAL_VALUE_PROBABILITY,
            }
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "headers": {"Authorization": f"Token {token}"},
            "generation": {
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
                "with-security-parameters": False,
            },
            "dictionaries": dictionaries,
            "parameters": parameters,
        }
    )
    # As Django's test client does: a request must not close the test's database connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", WSGIHandler(), config=config)
        schema.hook(filter_failure)
        yield schema
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """schemathesis 4.32 names each operation's sub-test through ``Node._nodeid``, which pytest
    9.2 no longer has; give it the attribute it reads and writes."""
    request.node._nodeid = request.node.nodeid


def filter_failure(context: Any, failure: Failure, case: Any, response: Any) -> bool:
    """Keep every failure but positive_data_acceptance's for a 400 refused by a rule."""
    return not ("positive_data_acceptance" in failure.checks and refused_by_a_rule(response))


schema = schemathesis.pytest.from_fixture("api_schema")


# Every case of one persona runs inside one test: about 4,000 requests (two fifths of them
# define instruments, whose nested bodies the coverage phase varies field by field) take longer
# than the suite's 300 s on a shared 2-core machine.
@pytest.mark.timeout(900)
@schema.parametrize()
def test_every_operation_answers_as_its_schema_says(
    case: Any, request: pytest.FixtureRequest
) -> None:
    # The token goes as an explicit header, so that ignored_auth knows it is real and tries
    # the request without it and with a wrong one.
    headers = case.operation.schema.config.headers_for(operation=case.operation)
    persona = request.node.callspec.params["api_schema"]
    revocation = case.operation.path.endswith("/tokens/revocation/")
    if revocation:
        # Revocation revokes the token it is sent with: each case gets a token of its own, so
        # the operations fuzzed after it still run signed in.
        user = get_user_model().objects.get(username=persona)
        headers = {**(headers or {}), "Authorization": f"Token {api_token(user)}"}
    response = case.call(headers=headers)
    if revocation:
        # The body names a token by id, and the fuzzing soon names the persona's own (1, the
        # schema's minimum, is the first token a fresh test database issues): it works again.
        ApiToken.objects.filter(user__username=persona).update(revoked_at=None, revoked_by=None)
    # The persona's token must work for every case: a 401 here means the run stopped testing.
    assert response.status_code != 401, f"{case.operation.label}: the persona's token was refused"
    failures: list[Failure] = []
    try:
        case.validate_response(response, headers=headers)  # every check: see the docstring
    except FailureGroup as group:
        failures = list(group.exceptions)
        raise
    finally:
        if os.environ.get("API_FUZZ_LOG"):
            log_case(persona, case, response, failures)


def log_case(persona: str, case: Any, response: Any, failures: list[Failure]) -> None:
    line = {
        "persona": persona,
        "operation": case.operation.label,
        "phase": case.meta.phase.name.value if case.meta else None,
        "mode": case.meta.generation.mode.value if case.meta else None,
        "status": response.status_code,
        "failures": [check for failure in failures for check in failure.checks],
    }
    with open(os.environ["API_FUZZ_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps(line) + "\n")
