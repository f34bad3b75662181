"""Keeping the unit-cost table: the services' rules and audit, the page, the CSV import and the
API."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from economics import services
from economics.models import EconomicSettings, UnitCost
from economics.services import EconomicsError
from pathways.services import add_standard_alphabet
from tests.conftest import World, api_token
from trial.models import AuditEvent

D = dt.date


def add(world: World, **values: Any) -> UnitCost:
    base: dict[str, Any] = {
        "kind": UnitCost.Kind.STAFF_MINUTE,
        "key": "caseworker",
        "arm": None,
        "amount": Decimal("10.5"),
        "price_year": 2025,
        "valid_from": D(2025, 1, 1),
        "valid_to": D(2025, 12, 31),
        "note": "",
    }
    base.update(values)
    return services.save_unit_cost(world.trial, actor=world.users["coordinator"], **base)


def test_adding_a_unit_cost_is_audited(world: World) -> None:
    row = add(world)
    event = AuditEvent.objects.get(action="unitcost.created")
    assert event.target_id == str(row.pk)
    assert event.trial == world.trial
    assert event.data["after"]["amount"] == "10.5"


def test_an_overlapping_period_is_refused_naming_both_rows(world: World) -> None:
    add(world)
    with pytest.raises(EconomicsError) as caught:
        add(world, valid_from=D(2025, 6, 1), valid_to=None, amount=Decimal(12))
    message = caught.value.message
    assert "staff_minute caseworker 2025-06-01–…" in message
    assert "staff_minute caseworker 2025-01-01–2025-12-31" in message
    # Following on is fine, and so is the same period for another role.
    add(world, valid_from=D(2026, 1, 1), valid_to=None)
    add(world, key="coordinator")
    assert UnitCost.objects.count() == 3


def test_an_open_row_overlaps_everything_after_it(world: World) -> None:
    add(world, valid_to=None)
    with pytest.raises(EconomicsError):
        add(world, valid_from=D(2030, 1, 1), valid_to=D(2030, 2, 1))


def test_an_edit_is_checked_against_the_other_rows_and_audited(world: World) -> None:
    first = add(world)
    second = add(world, valid_from=D(2026, 1, 1), valid_to=None)
    with pytest.raises(EconomicsError):
        services.save_unit_cost(
            world.trial, actor=None, unit_cost=second, valid_from=D(2025, 12, 1)
        )
    services.save_unit_cost(world.trial, actor=None, unit_cost=first, amount=Decimal(11))
    event = AuditEvent.objects.get(action="unitcost.changed")
    assert event.data["changes"]["amount"] == ["10.5000", "11"]


def test_unknown_keys_and_arms_on_rates_are_refused(world: World) -> None:
    with pytest.raises(EconomicsError) as caught:
        add(world, key="astronaut")
    assert caught.value.field == "key"
    with pytest.raises(EconomicsError) as caught:
        add(world, kind=UnitCost.Kind.BENEFIT, key="aap")  # no alphabet yet
    add_standard_alphabet(world.trial, actor=None)
    add(world, kind=UnitCost.Kind.BENEFIT, key="aap")
    with pytest.raises(EconomicsError) as caught:
        add(world, arm=world.trial.arms.get(code="A"))
    assert caught.value.field == "arm"
    add(world, kind=UnitCost.Kind.SITE, key="OSLA", arm=world.trial.arms.get(code="A"))


CSV = (
    "kind,key,arm,amount,price_year,valid_from,valid_to,note\n"
    "staff_minute,caseworker,,10,2025,2025-01-01,,\n"
    "participant,,A,1500.50,2024,2025-01-01,2025-12-31,training\n"
    "site,OSLA,A,20000,2025,2025-01-01,,team lead\n"
)


def test_a_csv_import_saves_every_row_with_its_audit(world: World) -> None:
    result = services.import_unit_costs(
        world.trial, CSV.encode(), file_name="costs.csv", actor=world.users["coordinator"]
    )
    assert result == services.ImportResult(3, [])
    assert UnitCost.objects.filter(trial=world.trial).count() == 3
    assert AuditEvent.objects.filter(action="unitcost.created").count() == 3
    assert AuditEvent.objects.get(action="unitcost.imported").data == {
        "file": "costs.csv",
        "rows": 3,
    }


def test_a_csv_import_is_all_or_nothing_with_errors_by_line(world: World) -> None:
    add(world)
    bad = CSV + (
        "benefit,nosuchstate,,100,2025,2025-01-01,,\n"
        "staff_minute,caseworker,,-3,20x5,2025-13-01,,\n"
        "participant,,A,10,2025,2025-06-01,,\n"
    )
    result = services.import_unit_costs(world.trial, bad.encode(), file_name="x", actor=None)
    assert result.saved == 0
    by_line = {e["line"]: " ".join(e["messages"]) for e in result.errors}
    assert "overlaps staff_minute caseworker 2025-01-01–2025-12-31" in by_line[2]
    assert "nosuchstate" in by_line[5]
    assert "amount" in by_line[6] and "price_year" in by_line[6] and "valid_from" in by_line[6]
    assert "line 3" in by_line[7]  # overlaps another row of the same file
    assert UnitCost.objects.filter(trial=world.trial).count() == 1
    assert not AuditEvent.objects.filter(action="unitcost.imported").exists()


def test_a_file_without_the_columns_is_refused(world: World) -> None:
    result = services.import_unit_costs(world.trial, b"kind,key\n", file_name="x", actor=None)
    assert result.saved == 0
    assert "amount" in result.errors[0]["messages"][0]


def test_the_page_shows_rows_and_plan_checks_to_a_statistician(world: World) -> None:
    add(world)
    response = world.client("statistician").get(
        reverse("economics:unit_costs", args=[world.trial.code])
    )
    assert response.status_code == 200
    assert b"caseworker" in response.content
    assert b"Add a unit cost" not in response.content  # reads, does not keep


def test_the_coordinator_adds_a_row_in_the_browser_and_sees_an_overlap(world: World) -> None:
    client = world.client("coordinator")
    url = reverse("economics:unit_costs", args=[world.trial.code])
    data = {
        "kind": "staff_minute",
        "key": "caseworker",
        "amount": "10",
        "price_year": "2025",
        "valid_from": "2025-01-01",
    }
    assert client.post(url, data).status_code == 302
    response = client.post(url, data)
    assert response.status_code == 400
    assert "overlaps" in response.content.decode()
    assert client.post(url, {**data, "amount": "abc"}).status_code == 400


def test_the_browser_import_reports_rows_and_saves_nothing(world: World) -> None:
    client = world.client("coordinator")
    url = reverse("economics:import", args=[world.trial.code])
    upload = SimpleUploadedFile("c.csv", b"kind,key,amount,price_year,valid_from\nnope,,1,2025,x\n")
    response = client.post(url, {"file": upload})
    assert response.status_code == 400
    assert "Line 2" in response.content.decode()
    assert not UnitCost.objects.exists()
    good = SimpleUploadedFile("c.csv", CSV.encode())
    assert client.post(url, {"file": good}).status_code == 302
    assert UnitCost.objects.count() == 3


def test_settings_with_a_bad_price_index_are_refused(world: World) -> None:
    client = world.client("coordinator")
    url = reverse("economics:settings", args=[world.trial.code])
    base: dict[str, Any] = {
        "currency": "NOK",
        "price_year": "2025",
        "horizon_months": "24",
        "discount_rate": "0.04",
        "work_states": "work",
        "wtp_max": "500000",
        "replicates": "2000",
    }
    assert client.post(url, {**base, "price_index": '{"2024": -1}'}).status_code == 400
    assert client.post(url, {**base, "price_index": "not json"}).status_code == 400
    index = '{"2024": 100, "2025": 104}'
    assert client.post(url, {**base, "price_index": index}).status_code == 302
    assert EconomicSettings.objects.get(trial=world.trial).price_index == {
        "2024": 100.0,
        "2025": 104.0,
    }
    assert AuditEvent.objects.filter(action="economicsettings.changed").exists()


def test_the_api_adds_rows_and_answers_400_with_field_errors(world: World) -> None:
    client = Client(HTTP_AUTHORIZATION=f"Token {api_token(world.users['coordinator'])}")
    url = reverse("v1:unit-cost-list", args=[world.trial.code])
    data = {
        "kind": "participant",
        "arm": "A",
        "amount": "1200",
        "price_year": 2025,
        "valid_from": "2025-01-01",
    }
    created = client.post(url, data, content_type="application/json")
    assert created.status_code == 201, created.content
    assert created.json()["arm"] == "A"
    again = client.post(url, data, content_type="application/json")
    assert again.status_code == 400
    assert "overlaps" in again.json()["errors"]["valid_from"][0]
    bad = client.post(url, {**data, "arm": "Z", "amount": "-1"}, content_type="application/json")
    assert bad.status_code == 400
    assert "amount" in bad.json()["errors"]
    listed = client.get(url)
    assert [row["kind"] for row in listed.json()] == ["participant"]
    reader = Client(HTTP_AUTHORIZATION=f"Token {api_token(world.users['statistician'])}")
    assert reader.get(url).status_code == 200
    assert reader.post(url, data, content_type="application/json").status_code == 403
    outsider = Client(HTTP_AUTHORIZATION=f"Token {api_token(world.users['outsider'])}")
    assert outsider.get(url).status_code == 404


def test_the_api_refuses_an_end_before_the_start_and_odd_input_without_a_500(
    world: World,
) -> None:
    client = Client(HTTP_AUTHORIZATION=f"Token {api_token(world.users['coordinator'])}")
    url = reverse("v1:unit-cost-list", args=[world.trial.code])
    base = {"kind": "staff_minute", "key": "caseworker", "amount": "1", "price_year": 2025}
    cases = [
        {**base, "valid_from": "2025-02-01", "valid_to": "2025-01-01"},
        {**base, "valid_from": "2025-01-01", "arm": "A"},
        {**base, "valid_from": "2025-01-01", "key": "x\x00y"},
        {**base, "valid_from": "2025-01-01", "amount": "1e400"},
        {**base, "valid_from": "9999-12-31", "kind": "participant", "key": "oops"},
        {**base, "valid_from": "2025-01-01", "arm": "\x00"},
    ]
    for data in cases:
        response = client.post(url, data, content_type="application/json")
        assert response.status_code == 400, (data, response.content)
    assert not UnitCost.objects.exists()
