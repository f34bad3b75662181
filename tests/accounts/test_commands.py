"""The user a management command acts as (accounts.commands), as the import commands use it."""

from __future__ import annotations

import pytest
from django.core.management import CommandError

from accounts.commands import active_user, importer
from tests.conftest import World


def test_an_import_without_a_user_is_recorded_as_the_system(world: World) -> None:
    assert importer(world.trial.code, None) == (world.trial, None)


def test_a_data_manager_may_import_and_a_statistician_may_not(world: World) -> None:
    manager = world.users["datamanager"]
    assert importer(world.trial.code, manager.username) == (world.trial, manager)
    with pytest.raises(CommandError, match="statistician may not import data into ips"):
        importer(world.trial.code, "statistician")


def test_an_unknown_trial_or_user_is_refused(world: World) -> None:
    with pytest.raises(CommandError, match="no trial with code 'nope'"):
        importer("nope", world.users["datamanager"].username)
    with pytest.raises(CommandError, match="no active user 'nobody'"):
        importer(world.trial.code, "nobody")


def test_an_inactive_user_is_not_an_active_user(world: World) -> None:
    user = world.users["datamanager"]
    user.is_active = False
    user.save(update_fields=["is_active"])
    with pytest.raises(CommandError, match="no active user"):
        active_user(user.username)
