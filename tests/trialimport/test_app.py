"""What the move into the trialimport app keeps: the paths, the task's name that queued
messages carry, the menu entry."""

from __future__ import annotations

from django.urls import reverse

from trial.extensions import nav_items
from trialimport.tasks import run_import


def test_the_paths_and_the_task_name_are_those_of_before() -> None:
    assert reverse("trialimport:import", args=["ips"]) == "/trials/ips/import/"
    assert reverse("trialimport:import_detail", args=["ips", 7]) == "/trials/ips/import/7/"
    assert reverse("trialimport:import_confirm", args=["ips", 7]) == "/trials/ips/import/7/import/"
    assert run_import.name == "randomisation.tasks.run_import"


def test_the_import_is_in_the_data_menu() -> None:
    [item] = [item for item in nav_items() if item.url_name == "trialimport:import"]
    assert (item.perm, item.group) == ("import_data", "data")
