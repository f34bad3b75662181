"""Randomisation pages in the browser: configuring and locking a scheme, the commitment, who
sees arm names, the log, verification, sealed lists and exports, simulations (also on a real
Celery worker), and the CONSORT text."""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from kombu.exceptions import OperationalError

from randomisation.allocation import services as allocation_services
from randomisation.cluster import services as cluster_services
from randomisation.models import Allocation, BlockSlot, Scheme, SimulationRun
from randomisation.schemes import consort
from randomisation.schemes import services as scheme_services
from randomisation.simulation import services as simulation_services
from randomisation.tasks import run_simulation
from tests import factories
from tests.conftest import World, as_owner
from tests.workers import worker_for
from trial import personal_numbers
from trial.models import AuditEvent, CovariateDefinition, Participant, Trial

BASE = "/trials/ips/randomisation/"
NAME_A, NAME_B = "Supported employment IPS", "Usual NAV follow-up"
BLOCKS = {
    "method": "blocks",
    "block_sizes": "4, 6",
    "stratify_by_site": "on",
    "strata_covariates": ["sex"],
    "weight_site": "0",
    "weight_sex": "0",
    "p_best": "0.80",
    "imbalance_measure": "range",
    "notes": "",
}


@pytest.fixture
def rworld(world: World) -> World:
    """The world's trial recruiting, with distinctive arm names and a sex covariate."""
    trial = world.trial
    trial.status = Trial.Status.RECRUITING
    trial.target_size = 24
    trial.registry_id = "NCT01234567"
    trial.save()
    trial.arms.filter(code="A").update(name=NAME_A)
    trial.arms.filter(code="B").update(name=NAME_B)
    CovariateDefinition.objects.create(
        trial=trial, key="sex", label="Sex", kind="choice", choices=[["f", "Female"], ["m", "Male"]]
    )
    return world


def blocks_scheme(world: World, **fields: Any) -> Scheme:
    values: dict[str, Any] = {
        "method": Scheme.Method.BLOCKS,
        "block_sizes": [4, 6],
        "stratify_by_site": True,
        "strata_covariates": ["sex"],
    }
    values.update(fields)
    return Scheme.objects.create(trial=world.trial, **values)


def randomised(world: World, scheme: Scheme, n: int = 4) -> list[tuple[Participant, str]]:
    """``n`` consented participants randomised through the service, with their numbers."""
    if not scheme.is_locked:
        scheme_services.lock_scheme(scheme, actor=world.users["coordinator"])
    people = []
    for i in range(n):
        number = factories.personal_number()
        participant = factories.make_participant(
            world.trial,
            world.sites[i % 2],
            number=number,
            consent_version="v1",
            consent_date=dt.date(2025, 3, 1),
            baseline={"sex": "fm"[i % 2]},
        )
        allocation_services.randomise(participant, actor=world.users["coordinator"])
        people.append((participant, number))
    return people


def text(response: Any) -> str:
    if hasattr(response, "streaming_content"):
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


# --- configuring and locking ---------------------------------------------------------------


def test_coordinator_configures_a_blocks_scheme_through_the_form(rworld: World) -> None:
    client = rworld.client("coordinator")
    page = client.get(BASE + "scheme/")
    assert page.status_code == 200
    methods = page.context["form"].fields["method"].choices
    assert [value for value, _label in methods] == ["simple", "blocks", "minimisation"]

    response = client.post(BASE + "scheme/", BLOCKS)
    assert response.status_code == 302 and response["Location"] == BASE
    scheme = Scheme.objects.get(trial=rworld.trial)
    assert (scheme.version, scheme.status, scheme.method) == (1, "draft", "blocks")
    assert scheme.block_sizes == [4, 6] and scheme.strata_factors == ["site", "sex"]
    assert scheme.minimisation_factors == []
    created = AuditEvent.objects.get(action="scheme.created")
    assert created.actor == rworld.users["coordinator"]
    assert created.data["after"]["block_sizes"] == [4, 6]

    client.post(BASE + "scheme/", {**BLOCKS, "block_sizes": "2, 4", "stratify_by_site": ""})
    scheme.refresh_from_db()
    assert scheme.block_sizes == [2, 4] and not scheme.stratify_by_site
    changed = AuditEvent.objects.get(action="scheme.changed")
    assert changed.data["changes"]["block_sizes"] == [[4, 6], [2, 4]]

    client.post(BASE + "scheme/", {**BLOCKS, "block_sizes": "2, 4", "stratify_by_site": ""})
    assert AuditEvent.objects.filter(action="scheme.changed").count() == 1  # nothing changed

    overview = text(client.get(BASE))
    assert "Permuted blocks of varying size" in overview and "2, 4" in overview
    assert 'href="/trials/ips/randomisation/"' in overview  # the trial menu's entry


def test_block_sizes_that_break_a_two_to_one_ratio_are_refused_next_to_the_field(
    rworld: World,
) -> None:
    rworld.trial.arms.filter(code="A").update(allocation_weight=2)
    client = rworld.client("coordinator")
    response = client.post(BASE + "scheme/", {**BLOCKS, "block_sizes": "3, 4"})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "multiples of 3" in errors["block_sizes"][0] and "4" in errors["block_sizes"][0]
    assert not Scheme.objects.exists()

    response = client.post(BASE + "scheme/", {**BLOCKS, "block_sizes": "3, six"})
    assert "“six” is not a whole number" in response.context["form"].errors["block_sizes"][0]
    assert client.post(BASE + "scheme/", {**BLOCKS, "block_sizes": "3, 6"}).status_code == 302
    assert Scheme.objects.get().block_sizes == [3, 6]


def test_minimisation_without_factors_is_refused(rworld: World) -> None:
    response = rworld.client("coordinator").post(
        BASE + "scheme/", {**BLOCKS, "method": "minimisation"}
    )
    assert response.status_code == 200
    assert response.context["form"].factor_errors == ["Choose at least one minimisation factor."]
    assert "Choose at least one minimisation factor." in text(response)
    assert not Scheme.objects.exists()


def test_site_covariate_table_errors_name_the_line(rworld: World) -> None:
    rworld.trial.design = Trial.Design.CLUSTER
    rworld.trial.save()
    client = rworld.client("coordinator")
    data = {
        "method": "cluster_constrained",
        "site_covariates": "site,size,unemployment\nOSLA,40,3.1\nOSLB,abc,2.0\nBGO,20,1.5",
        "constraint_cutoff": "0.1",
    }
    response = client.post(BASE + "scheme/", data)
    assert response.status_code == 200
    assert response.context["form"].errors["site_covariates"] == [
        "Line 3: size must be a number, not “abc”."
    ]
    data["site_covariates"] = "site,size\nOSLA,40\nXYZ,4"
    response = client.post(BASE + "scheme/", data)
    assert response.context["form"].errors["site_covariates"] == [
        "Line 3: the trial has no site XYZ."
    ]
    # A valid table offers its covariates to balance on, and the choice is required.
    data["site_covariates"] = "site,size,unemployment\nOSLA,40,3.1\nOSLB,12,2.0\nBGO,20,1.5"
    response = client.post(BASE + "scheme/", data)
    form = response.context["form"]
    assert [v for v, _l in form.fields["constraint_covariates"].choices] == [
        "size",
        "unemployment",
    ]
    assert "Choose the site covariates to balance." in form.errors["constraint_covariates"]
    response = client.post(BASE + "scheme/", {**data, "constraint_covariates": ["size"]})
    assert response.status_code == 302
    scheme = Scheme.objects.get()
    assert scheme.site_covariates["OSLB"] == {"size": 12, "unemployment": 2.0}
    assert scheme.constraint_covariates == ["size"]
    assert scheme.block_sizes == [] and scheme.method == "cluster_constrained"


def test_lock_then_commitment_shows_the_hash_and_never_the_seed(rworld: World) -> None:
    scheme = blocks_scheme(rworld)
    client = rworld.client("coordinator")
    page = text(client.get(BASE + "scheme/lock/"))
    assert "commitment hash" in page and "can no longer be changed" in page

    response = client.post(BASE + "scheme/lock/")
    assert response.status_code == 302 and response["Location"] == BASE + "commitment/"
    scheme.refresh_from_db()
    assert scheme.is_locked and BlockSlot.objects.filter(scheme=scheme).exists()

    page = text(client.get(response["Location"]))
    seed = personal_numbers.decrypt(scheme.seed_encrypted)
    assert scheme.commitment_hash in page and "NCT01234567" in page
    assert seed not in page and seed.upper() not in page
    assert "is locked" in page  # the success message

    # The locked scheme is read-only, and a second lock is refused.
    locked_page = text(client.get(BASE + "scheme/"))
    assert "can no longer be changed" in locked_page and "<select" not in locked_page
    assert client.post(BASE + "scheme/lock/")["Location"] == BASE + "commitment/"


def test_lock_refusal_is_shown_and_nothing_is_locked(rworld: World) -> None:
    blocks_scheme(rworld, block_sizes=[])
    client = rworld.client("coordinator")
    page = text(client.get(BASE + "scheme/lock/"))
    assert "Give at least one block size." in page
    response = client.post(BASE + "scheme/lock/")
    assert response.status_code == 200 and "Give at least one block size." in text(response)
    assert not Scheme.objects.get().is_locked


def test_an_unused_locked_scheme_gets_a_new_draft_version(rworld: World) -> None:
    scheme = blocks_scheme(rworld)
    scheme_services.lock_scheme(scheme, actor=rworld.users["coordinator"])
    client = rworld.client("coordinator")
    response = client.post(BASE + "scheme/", {"action": "new-version"})
    assert response.status_code == 302
    old, new = Scheme.objects.order_by("version")
    assert (old.version, old.status, new.version, new.status) == (1, "locked", 2, "draft")
    assert new.block_sizes == [4, 6] and new.strata_covariates == ["sex"]
    assert not new.commitment_hash and not new.seed_encrypted
    assert AuditEvent.objects.get(action="scheme.created").data["copied_from_version"] == 1
    # The new draft is what the form edits; the old version stays in force.
    client.post(BASE + "scheme/", {**BLOCKS, "block_sizes": "6"})
    new.refresh_from_db()
    old.refresh_from_db()
    assert new.block_sizes == [6] and old.block_sizes == [4, 6]
    assert Scheme.objects.locked_for(rworld.trial) == old


def test_a_new_version_cannot_be_locked_once_the_old_one_was_used(rworld: World) -> None:
    old = scheme_services.lock_scheme(blocks_scheme(rworld), actor=rworld.users["coordinator"])
    client = rworld.client("coordinator")
    client.post(BASE + "scheme/", {"action": "new-version"})
    assert "Version 2 is being prepared as a draft" in text(client.get(BASE))
    randomised(rworld, old, n=1)
    response = client.post(BASE + "scheme/lock/")
    assert response.status_code == 200
    assert "randomised with version 1, so it can no longer be replaced" in text(response)
    assert Scheme.objects.get(version=2).status == "draft"


def test_a_used_scheme_cannot_get_a_new_version(rworld: World) -> None:
    randomised(rworld, blocks_scheme(rworld), n=1)
    client = rworld.client("coordinator")
    assert "Make a new version" not in text(client.get(BASE + "scheme/"))
    client.post(BASE + "scheme/", {"action": "new-version"})
    assert Scheme.objects.count() == 1


# --- who sees what -------------------------------------------------------------------------


def test_blinded_statistician_sees_codes_only_and_no_sealed_list(rworld: World) -> None:
    randomised(rworld, blocks_scheme(rworld))
    coordinator = text(rworld.client("coordinator").get(BASE))
    assert NAME_A in coordinator and NAME_B in coordinator

    client = rworld.client("statistician")
    overview = client.get(BASE)
    assert overview.status_code == 200
    page = text(overview)
    assert NAME_A not in page and NAME_B not in page
    assert [row["label"] for row in overview.context["arms"]] == ["A", "B"]
    assert sum(row["count"] for row in overview.context["arms"]) == 4
    assert "sealed-list" not in page and "/log/" not in page
    for url in ["log/", "verify/", "sealed-list/"] + [
        f"export/{kind}.csv" for kind in ("allocations", "log", "sealed-list")
    ]:
        assert client.get(BASE + url).status_code == 403, url


def test_log_shows_names_only_to_those_who_may_know_the_arm(rworld: World) -> None:
    people = randomised(rworld, blocks_scheme(rworld))
    response = rworld.client("monitor").get(BASE + "log/")
    assert response.status_code == 200
    page = text(response)
    assert [row["sequence"] for row in response.context["rows"]] == [4, 3, 2, 1]
    assert people[0][0].study_id in page
    for row in response.context["rows"]:
        allocation = Allocation.objects.select_related("arm").get(sequence=row["sequence"])
        assert row["arm"] == f"{allocation.arm.code} – {allocation.arm.name}"
        assert allocation.arm.name in page
    for _participant, number in people:
        assert number not in page
    # Filters by site and by source.
    response = rworld.client("coordinator").get(BASE + "log/", {"site": "OSLB"})
    assert [row["site"] for row in response.context["rows"]] == ["OSLB", "OSLB"]
    response = rworld.client("coordinator").get(BASE + "log/", {"source": "manual"})
    assert response.context["rows"] == []


@pytest.mark.parametrize("persona", ["caseworker", "reviewer", "statistician"])
def test_members_without_log_rights_get_403(rworld: World, persona: str) -> None:
    assert rworld.client(persona).get(BASE + "log/").status_code == 403


def test_outsider_gets_404_everywhere(rworld: World) -> None:
    client = rworld.client("outsider")
    for url in ["", "scheme/", "scheme/lock/", "commitment/", "log/", "verify/", "sealed-list/",
                "export/log.csv", "simulations/", "simulations/1/"]:  # fmt: skip
        assert client.get(BASE + url).status_code == 404, url


def test_configuration_pages_are_for_coordinator_and_statistician(rworld: World) -> None:
    for persona in ("caseworker", "monitor", "datamanager", "reviewer"):
        client = rworld.client(persona)
        for url in ("scheme/", "scheme/lock/", "simulations/"):
            assert client.get(BASE + url).status_code == 403, (persona, url)
    assert rworld.client("statistician").get(BASE + "scheme/").status_code == 200


# --- sealed lists and exports --------------------------------------------------------------


def test_unblinded_statistician_sees_the_sealed_list(rworld: World) -> None:
    scheme = blocks_scheme(rworld)
    randomised(rworld, scheme, n=2)
    response = rworld.client("unblinded").get(BASE + "sealed-list/")
    assert response.status_code == 200
    strata = {(entry["version"], entry["stratum"]) for entry in response.context["lists"]}
    assert (1, "site=OSLA|sex=f") in strata and len(strata) == 6  # 3 sites x 2 sexes
    first = next(e for e in response.context["lists"] if e["stratum"] == "site=OSLA|sex=f")
    slot = BlockSlot.objects.get(scheme=scheme, stratum="site=OSLA|sex=f", position=1)
    assert first["rows"][0]["arm"].startswith(slot.arm.code) and first["used"] == 1
    assert AuditEvent.objects.filter(action="sealed_list.viewed").count() == 1


def test_unblinded_statistician_downloads_the_three_exports(rworld: World) -> None:
    scheme = blocks_scheme(rworld)
    people = randomised(rworld, scheme)
    first = Allocation.objects.get(sequence=1)
    allocation_services.flag_in_error(
        first, reason="Not eligible after all", actor=rworld.users["coordinator"]
    )
    client = rworld.client("unblinded")
    today = timezone.localdate().isoformat()

    response = client.get(BASE + "export/allocations.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == f'attachment; filename="ips-allocations-{today}.csv"'
    body = text(response)
    rows = list(csv.DictReader(io.StringIO(body)))
    assert list(rows[0]) == [
        "sequence", "unit_type", "unit", "site", "stratum", "arm_code", "arm_name",
        "randomised_on", "source", "reference", "reason", "in_error", "scheme_version", "hash",
    ]  # fmt: skip
    assert [row["sequence"] for row in rows] == ["1", "2", "3", "4"]
    assert rows[0]["unit"] == people[0][0].study_id and rows[0]["in_error"] == "1"
    assert rows[1]["in_error"] == "0" and rows[0]["scheme_version"] == "1"
    assert rows[0]["arm_name"] in (NAME_A, NAME_B) and rows[0]["hash"] == first.hash

    log_body = text(client.get(BASE + "export/log.csv"))
    log_rows = list(csv.DictReader(io.StringIO(log_body)))
    assert log_rows[0]["previous_hash"] == "0" * 64
    assert log_rows[1]["previous_hash"] == log_rows[0]["hash"]
    assert "Not eligible after all" in log_rows[0]["flags"]
    assert '"factors"' in log_rows[0]["details"] and log_rows[0]["unblindings"] == "[]"

    slots_body = text(client.get(BASE + "export/sealed-list.csv"))
    slot_rows = list(csv.DictReader(io.StringIO(slots_body)))
    assert list(slot_rows[0]) == [
        "scheme_version", "stratum", "position", "block_number", "block_size", "arm_code",
        "arm_name", "used",
    ]  # fmt: skip
    assert len(slot_rows) == BlockSlot.objects.filter(scheme=scheme).count()
    assert sum(int(row["used"]) for row in slot_rows) == 4

    for participant, number in people:
        for body_text in (body, log_body, slots_body):
            assert number not in body_text
            assert participant.personal_number_hash is not None
            assert participant.personal_number_hash not in body_text
    exported = AuditEvent.objects.filter(action="allocations.exported").order_by("id")
    assert [e.data["kind"] for e in exported] == ["allocations", "log", "sealed-list"]
    assert exported[0].actor == rworld.users["unblinded"] and exported[0].data["rows"] == 4
    assert client.get(BASE + "export/other.csv").status_code == 404


def test_exports_neutralise_formulas_and_keep_numbers(rworld: World) -> None:
    scheme = blocks_scheme(rworld)
    randomised(rworld, scheme, n=2)
    rworld.trial.arms.filter(code="A").update(name='=HYPERLINK("http://x")')
    rworld.trial.arms.filter(code="B").update(name="@Usual")
    client = rworld.client("unblinded")
    for kind in ("allocations", "log", "sealed-list"):
        rows = list(csv.reader(io.StringIO(text(client.get(BASE + f"export/{kind}.csv")))))
        cells = [cell for row in rows[1:] for cell in row]
        assert not [c for c in cells if c.startswith(("=", "+", "-", "@"))], kind
        if kind != "log":
            assert {'\'=HYPERLINK("http://x")', "'@Usual"} & set(cells), kind
    body = text(client.get(BASE + "export/allocations.csv"))
    assert [row["sequence"] for row in csv.DictReader(io.StringIO(body))] == ["1", "2"]


# --- verification --------------------------------------------------------------------------


def test_verify_reports_an_intact_chain(rworld: World) -> None:
    randomised(rworld, blocks_scheme(rworld), n=3)
    client = rworld.client("coordinator")
    assert "Verify now" in text(client.get(BASE + "verify/"))
    response = client.post(BASE + "verify/")
    assert response.context["result"].ok
    assert "Intact: 3 allocations checked" in text(response)


@pytest.mark.django_db(transaction=True)
def test_verify_reports_a_tampered_row(rworld: World, require_postgres: None) -> None:
    randomised(rworld, blocks_scheme(rworld), n=4)
    second = Allocation.objects.get(sequence=2)
    other_arm = rworld.trial.arms.exclude(pk=second.arm_id).get()
    # A superuser (the tables' owner, not the application's role) behind the application.
    with as_owner(), connection.cursor() as cursor:
        cursor.execute("ALTER TABLE randomisation_allocation DISABLE TRIGGER USER")
        cursor.execute(
            "UPDATE randomisation_allocation SET arm_id = %s WHERE id = %s",
            [other_arm.pk, second.pk],
        )
        cursor.execute("ALTER TABLE randomisation_allocation ENABLE TRIGGER USER")
    response = rworld.client("monitor").post(BASE + "verify/")
    result = response.context["result"]
    assert not result.ok and result.first_broken == 2
    page = text(response)
    assert "The first broken link is allocation #2." in page and "altered" in page


# --- simulation ----------------------------------------------------------------------------

SIMULATION = {"n_trials": "20", "trial_size": "30"}


def simulation_post(rworld: World) -> dict[str, str]:
    """The form as offered (equal shares), with a small run."""
    page = rworld.client("coordinator").get(BASE + "simulations/")
    form = page.context["form"]
    data = {name: str(form[name].initial) for name in form.fields}
    return {**data, **SIMULATION}


def test_simulation_runs_and_the_page_shows_the_results(rworld: World) -> None:
    scheme = blocks_scheme(rworld)  # a draft: simulate before locking
    client = rworld.client("coordinator")
    page = client.get(BASE + "simulations/")
    form = page.context["form"]
    assert form["trial_size"].initial == 24 and form["n_trials"].initial == 1000
    labels = [group["legend"] for group in form.mix_groups()]
    assert labels == ["Site", "Sex"]
    assert [str(form[f"mix_0_{i}"].initial) for i in range(3)] == ["33.33"] * 3

    response = client.post(BASE + "simulations/", simulation_post(rworld))
    run = SimulationRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"{BASE}simulations/{run.pk}/"
    assert run.status == "queued" and run.total == 20
    assert run.parameters["spec"]["block_sizes"] == [4, 6]
    assert run.parameters["strata_mix"]["sex"] == {"f": 0.5, "m": 0.5}

    # While queued, the status fragment polls every second.
    fragment = text(client.get(response["Location"], headers={"HX-Request": "true"}))
    assert 'hx-trigger="every 1s"' in fragment and "<progress" in fragment
    assert "<html" not in fragment

    assert run_simulation(run.pk) == "done"
    assert run_simulation(run.pk) == "skipped"  # a second delivery does nothing
    run.refresh_from_db()
    assert run.status == "done" and run.done == run.total == 20 and run.finished_at
    assert run.result["n_trials"] == 20 and run.result["stratum_imbalance_max"]

    fragment = text(client.get(response["Location"], headers={"HX-Request": "true"}))
    assert "hx-trigger" not in fragment  # finished: polling stops
    page = client.get(response["Location"])
    body = text(page)
    assert "Imbalance" in body and "Predictability" in body and "In 95 %" in body
    assert "Within strata: the worst stratum" in body
    # Editing the draft afterwards does not change the run.
    scheme.block_sizes = [2]
    scheme.save()
    assert SimulationRun.objects.get().parameters["spec"]["block_sizes"] == [4, 6]


def test_simulation_mix_must_add_up_to_100(rworld: World) -> None:
    blocks_scheme(rworld)
    data = simulation_post(rworld)
    data["mix_1_0"], data["mix_1_1"] = "70", "20"
    response = rworld.client("coordinator").post(BASE + "simulations/", data)
    assert response.status_code == 200
    assert "add up to 90" in response.context["form"].errors["mix_1_0"][0]
    assert not SimulationRun.objects.exists()


def test_a_scheme_with_problems_is_not_simulated(rworld: World) -> None:
    blocks_scheme(rworld, block_sizes=[])
    client = rworld.client("coordinator")
    page = client.get(BASE + "simulations/")
    assert "Give at least one block size." in text(page) and page.context["form"] is not None
    client.post(BASE + "simulations/", {**SIMULATION})
    assert not SimulationRun.objects.exists()


def test_an_unreachable_broker_fails_the_run_instead_of_the_page(
    rworld: World, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    blocks_scheme(rworld)

    def broker_down(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("Error 111 connecting to localhost:6379. Connection refused.")

    monkeypatch.setattr(run_simulation, "delay", broker_down)
    data = simulation_post(rworld)
    with django_capture_on_commit_callbacks(execute=True):
        response = rworld.client("coordinator").post(BASE + "simulations/", data)
    assert response.status_code == 302
    run = SimulationRun.objects.get()
    assert run.status == "failed" and "task queue could not be reached" in run.error
    page = text(rworld.client("coordinator").get(response["Location"]))
    assert "task queue could not be reached" in page and "hx-trigger" not in page


def test_a_failing_simulation_is_marked_failed(rworld: World) -> None:
    scheme = blocks_scheme(rworld)
    run = SimulationRun.objects.create(
        scheme=scheme,
        parameters={
            "n_trials": 10,
            "trial_size": 10,
            "strata_mix": {"site": {"OSLA": 1.0}},  # sex is missing
            "spec": simulation_services.spec_to_json(simulation_services.spec_for(scheme)),
            "seed": "00" * 32,
        },
        total=10,
    )
    assert run_simulation(run.pk) == "failed"
    run.refresh_from_db()
    assert run.status == "failed" and "sex" in run.error and run.finished_at
    assert run_simulation(run.pk) == "skipped"
    assert run_simulation(run.pk + 1000) == "missing"


@pytest.mark.django_db(transaction=True)
def test_simulation_runs_on_a_real_worker_on_redis(
    require_redis: str, rworld: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks_scheme(rworld)
    with worker_for(monkeypatch, run_simulation):
        response = rworld.client("coordinator").post(BASE + "simulations/", simulation_post(rworld))
        assert response.status_code == 302
        run = SimulationRun.objects.get()
        deadline = time.monotonic() + 60
        while SimulationRun.objects.get().status in ("queued", "running"):
            assert time.monotonic() < deadline, "the worker did not finish the simulation"
            time.sleep(0.1)
    run.refresh_from_db()
    assert run.status == "done", run.error
    assert run.result["n_trials"] == 20 and run.done == 20
    assert "Predictability" in text(rworld.client("coordinator").get(response["Location"]))


# --- the CONSORT text ----------------------------------------------------------------------


def test_consort_text_for_blocks_names_sizes_and_strata(rworld: World) -> None:
    scheme = blocks_scheme(rworld)
    draft = " ".join(consort.randomisation_text(scheme))
    assert "will be computer-generated" in draft and "still a draft" in draft
    scheme_services.lock_scheme(scheme, actor=rworld.users["coordinator"])
    scheme.refresh_from_db()
    paragraphs = consort.randomisation_text(scheme)
    joined = " ".join(paragraphs)
    assert len(paragraphs) == 4
    assert "permuted blocks of sizes 4 and 6" in joined and "chosen at random" in joined
    assert "stratified by site (NAV office) and Sex" in joined
    assert "cryptographically secure" in joined
    assert f"locked on {timezone.localtime(scheme.locked_at).date().isoformat()}" in joined
    assert "allocation ratio was 1:1 (A, B)" in joined
    assert scheme.commitment_hash in joined and "sealed" in joined
    assert NAME_A not in joined
    page = text(rworld.client("statistician").get(BASE))
    assert "permuted blocks of sizes 4 and 6" in page


def test_consort_text_for_minimisation_states_the_random_element(rworld: World) -> None:
    scheme = Scheme.objects.create(
        trial=rworld.trial,
        method=Scheme.Method.MINIMISATION,
        minimisation_factors=[{"factor": "site", "weight": 1}, {"factor": "sex", "weight": 2}],
        p_best="0.85",
        imbalance_measure=Scheme.Measure.VARIANCE,
    )
    joined = " ".join(consort.randomisation_text(scheme))
    assert "minimisation (Pocock and Simon)" in joined
    assert "site (NAV office) (weight 1) and Sex (weight 2)" in joined
    assert "random element" in joined and "probability 0.85" in joined
    assert "variance" in joined and "stored encrypted" in joined


def test_overview_of_a_cluster_trial_offers_to_randomise_the_sites(rworld: World) -> None:
    trial = rworld.trial
    trial.design = Trial.Design.CLUSTER
    trial.save()
    scheme = Scheme.objects.create(
        trial=trial, method=Scheme.Method.CLUSTER_STRATIFIED, site_strata_field=""
    )
    scheme_services.lock_scheme(scheme, actor=rworld.users["coordinator"])
    page = rworld.client("coordinator").get(BASE)
    assert page.context["can_randomise_sites"]
    assert 'action="/trials/ips/randomisation/sites/"' in text(page)
    assert not rworld.client("statistician").get(BASE).context["can_randomise_sites"]
    cluster_services.randomise_sites(trial, actor=rworld.users["coordinator"])
    page = rworld.client("coordinator").get(BASE)
    assert not page.context["can_randomise_sites"]
    assert all(row["allocated"] for row in page.context["site_rows"])
    assert {row["arm"] for row in page.context["site_rows"]} <= {f"A – {NAME_A}", f"B – {NAME_B}"}
    blinded = rworld.client("statistician").get(BASE)
    assert {row["arm"] for row in blinded.context["site_rows"]} <= {"A", "B"}
    assert "Sites (NAV offices) were the unit of randomisation" in text(blinded)
    simulations = text(rworld.client("coordinator").get(BASE + "simulations/"))
    assert "this scheme allocates sites" in simulations
