"""Property-based fuzzing of the whole API against its own OpenAPI schema (schemathesis).

The application runs in process (its WSGI handler) on the test database, seeded with a small
demo trial, and every request is a coordinator's, with a token. Path parameters name real
objects, and filters and the codes inside bodies are mostly drawn from the trial, so that
requests reach past the 404s into the views; the rest is generated from the schema. Every
operation gets the examples in the schema, schemathesis' coverage cases (boundaries, missing
and wrong-typed values) and MAX_EXAMPLES generated cases, with a fixed seed and deterministic
generation so that a run repeats. Checks: no 5xx, every status code documented, every body of
the documented content type and matching the documented schema.

docs/api.md gives the numbers of operations and cases of a run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from demo.seed import seed_demo
from fidelity import contamination
from fidelity import services as fidelity_services
from fidelity.models import Adaptation, Contact, Review
from occupations.models import JobExposureMatrix
from pathways.models import SpellState
from reports import services as reports
from tests.conftest import api_token
from trial.models import Membership, Participant, Trial, Visit

MAX_EXAMPLES = 10
PARTICIPANTS = 8
SEED = 20260601
AS_OF = dt.date(2026, 6, 1)
# How often a parameter bound to the trial's real values takes one of them (else a generated one).
REAL_VALUE_PROBABILITY = 0.85

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def path_objects(trial: Trial, coordinator: Any) -> dict[str, Any]:
    """One real object for each path parameter, chosen so that requests reach the views' work:
    a participant with an open visit, a contact the coordinator may still correct, a report."""
    visit = (
        Visit.objects.filter(
            participant__trial=trial,
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
        actor=coordinator,
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
    }
    return {
        name: getattr(value, "pk", value) for name, value in objects.items() if value is not None
    }


def real_values(trial: Trial) -> dict[str, list[Any]]:
    """Values of the trial that query and body parameters are mostly drawn from."""
    study_ids = Participant.objects.filter(trial=trial).order_by("study_id")
    return {
        "site": list(trial.sites.order_by("code").values_list("code", flat=True)),
        "participant": list(study_ids.values_list("study_id", flat=True)[:8]),
        "study_id": list(study_ids.values_list("study_id", flat=True)[:8]),
        "visit": list(trial.visit_definitions.values_list("code", flat=True)),
        "state": list(SpellState.objects.filter(trial=trial).values_list("code", flat=True)),
        "components": list(trial.components.values_list("code", flat=True)),
        "exclusion_reason": list(trial.exclusion_reasons.values_list("code", flat=True)),
    }


@pytest.fixture
def api_schema(require_postgres: None) -> Iterator[Any]:
    trial = seed_demo(participants=PARTICIPANTS, seed=7, as_of=AS_OF).trial
    coordinator = Membership.objects.get(trial=trial, role=Membership.Role.COORDINATOR).user
    token = api_token(coordinator)
    parameters: dict[str, Any] = {
        f"path.{name}": value for name, value in path_objects(trial, coordinator).items()
    }
    dictionaries = {name: {"values": values} for name, values in real_values(trial).items()}
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
            # Unexpected methods get DRF's 405 everywhere (tests/config/test_api_errors.py).
            "phases": {"coverage": {"unexpected-methods": []}},
            "dictionaries": dictionaries,
            "parameters": parameters,
        }
    )
    # As Django's test client does: a request must not close the test's database connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/v1/schema/", WSGIHandler(), config=config)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """schemathesis 4.32 names each operation's sub-test through ``Node._nodeid``, which pytest
    9.2 no longer has; give it the attribute it reads and writes."""
    request.node._nodeid = request.node.nodeid


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_every_operation_answers_as_its_schema_says(case: Any) -> None:
    case.call_and_validate(checks=CHECKS)
