"""The statistical analysis plan: drafting with field-level checks, locking, superseding."""

from __future__ import annotations

import hashlib
import json

import pytest

from reports import services
from reports.models import AnalysisPlan
from tests.reports.conftest import PLAN, ReportWorld, lock_plan
from trial.models import AuditEvent
from trial.services import TrialError

URL = "/trials/ips/analysis-plan/"


def form_data(**changes: object) -> dict[str, object]:
    return {**PLAN, **changes}


def test_statistician_writes_and_locks_the_plan_in_the_browser(rworld: ReportWorld) -> None:
    client = rworld.world.client("statistician")
    assert "There is no plan yet." in client.get(URL).content.decode()
    response = client.post(URL + "edit/", form_data())
    assert response.status_code == 302
    plan = AnalysisPlan.objects.get()
    assert plan.status == "draft" and plan.version == 1 and plan.covariates == ["sex"]
    assert "Lock the plan" in client.get(URL).content.decode()
    assert client.post(URL + "lock/").status_code == 302
    plan.refresh_from_db()
    assert plan.status == "locked" and plan.locked_by_name == "statistician"
    assert plan.content_hash == services.plan_hash(plan)
    assert plan.locked_at is not None
    payload = {
        "trial": "ips",
        "version": 1,
        "content": plan.content(),
        "supersedes": None,
        "reason": "",
        "locked_at": plan.locked_at.isoformat(),
        "locked_by": "statistician",
    }
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert plan.content_hash == hashlib.sha256(text.encode()).hexdigest()
    page = client.get(URL).content.decode()
    assert plan.content_hash in page and "Start a new version" in page
    actions = list(
        AuditEvent.objects.filter(target_type="reports.analysisplan").values_list(
            "action", flat=True
        )
    )
    assert sorted(actions) == ["analysis_plan.created", "analysis_plan.locked", "economics.frozen"]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"time_point": "m24"}, "time_point", "Select a valid choice"),
        ({"primary_outcome": "shoe_size"}, "primary_outcome", "Select a valid choice"),
        (
            {"secondary_outcomes": ["in_paid_work"]},
            "secondary_outcomes",
            "cannot also be a secondary",
        ),
        ({"subgroups": ["age"]}, "subgroups", "Select a valid choice"),  # age is not categorical
        ({"analysis_model": ""}, "analysis_model", "This field is required"),
    ],
)
def test_plan_form_gives_field_errors(
    rworld: ReportWorld, changes: dict[str, object], field: str, message: str
) -> None:
    response = rworld.world.client("statistician").post(URL + "edit/", form_data(**changes))
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert not AnalysisPlan.objects.exists()


def test_service_checks_the_plan_against_the_trial(rworld: ReportWorld) -> None:
    with pytest.raises(TrialError) as error:
        services.save_plan_draft(rworld.trial, values=form_data(covariates=["height"]), actor=None)
    assert error.value.field == "covariates" and "height" in error.value.message


def test_a_locked_plan_cannot_change_only_be_superseded(rworld: ReportWorld) -> None:
    plan = lock_plan(rworld)
    statistician = rworld.world.users["statistician"]
    with pytest.raises(TrialError, match="The plan is locked"):
        services.save_plan_draft(
            rworld.trial, values=form_data(time_point="m6"), actor=statistician
        )
    with pytest.raises(TrialError, match="Only a draft can be locked"):
        services.lock_plan(plan, actor=statistician)
    client = rworld.world.client("statistician")
    assert client.get(URL + "edit/").status_code == 302
    assert client.get(URL + "lock/").status_code == 404
    # A new version needs a reason.
    response = client.post(URL + "new-version/", {"reason": "  "})
    assert "This field is required" in " ".join(response.context["form"].errors["reason"])
    assert (
        client.post(URL + "new-version/", {"reason": "m12 data too sparse; use m6"}).status_code
        == 302
    )
    draft = services.draft_plan(rworld.trial)
    assert draft is not None
    assert draft.version == 2 and draft.supersedes == plan and draft.reason.startswith("m12")
    plan.refresh_from_db()
    assert plan.status == "locked"  # still in force until v2 is locked
    with pytest.raises(TrialError, match="already being drafted"):
        services.supersede_plan(plan, reason="again", actor=statistician)
    assert client.post(URL + "edit/", form_data(time_point="m6")).status_code == 302
    assert client.post(URL + "lock/").status_code == 302
    plan.refresh_from_db()
    draft.refresh_from_db()
    assert (plan.status, draft.status, draft.time_point) == ("superseded", "locked", "m6")
    assert draft.content_hash != plan.content_hash
    assert AuditEvent.objects.filter(
        action="analysis_plan.superseded", target_id=str(plan.pk)
    ).exists()
    assert "m12 data too sparse" in client.get(URL).content.decode()


@pytest.mark.parametrize(
    ("persona", "status"), [("outsider", 404), ("coordinator", 403), ("caseworker", 403)]
)
def test_only_the_statistician_writes_the_plan(
    rworld: ReportWorld, persona: str, status: int
) -> None:
    client = rworld.world.client(persona)
    assert client.post(URL + "edit/", form_data()).status_code == status
    assert not AnalysisPlan.objects.exists()


def test_coordinator_reads_the_plan(rworld: ReportWorld) -> None:
    lock_plan(rworld)
    page = rworld.world.client("coordinator").get(URL).content.decode()
    assert "Version 1 – locked" in page and "Lock the plan" not in page
    assert rworld.world.client("coordinator").get(URL + "v1/").status_code == 200
