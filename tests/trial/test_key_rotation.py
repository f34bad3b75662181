"""rotate_encryption_keys: every stored personal number moves to the new key, readably."""

from __future__ import annotations

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from tests.conftest import World
from trial import personal_numbers
from trial.models import Participant


def run(*args: str) -> str:
    out = StringIO()
    call_command("rotate_encryption_keys", *args, stdout=out)
    return out.getvalue()


def test_rotation_moves_every_number_to_the_new_key(world: World, settings: object) -> None:
    stored = Participant.objects.exclude(personal_number_encrypted="")
    before = {p.pk: personal_numbers.decrypt(p.personal_number_encrypted) for p in stored}
    assert len(before) >= 5
    old_keys = list(settings.FIELD_ENCRYPTION_KEYS)  # type: ignore[attr-defined]
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, *old_keys]  # type: ignore[attr-defined]
    assert run("--check").startswith(f"{len(before)} of {len(before)} ")
    assert f"Re-encrypted {len(before)} personal numbers" in run()
    assert run("--check").startswith(f"0 of {len(before)} ")
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # type: ignore[attr-defined]  # old key retired
    after = {p.pk: personal_numbers.decrypt(p.personal_number_encrypted) for p in stored.all()}
    assert after == before
    # The keyed lookup hash does not depend on the encryption key: duplicates are still found.
    some = next(iter(stored))
    assert some.personal_number_hash == personal_numbers.lookup_hash(before[some.pk])


def test_an_unreadable_number_stops_with_its_study_id_only(world: World, settings: object) -> None:
    victim = Participant.objects.exclude(personal_number_encrypted="").order_by("pk").first()
    assert victim is not None
    foreign = Fernet(Fernet.generate_key()).encrypt(b"01010100131").decode()
    Participant.objects.filter(pk=victim.pk).update(personal_number_encrypted=foreign)
    unchanged = dict(Participant.objects.values_list("pk", "personal_number_encrypted"))
    with pytest.raises(CommandError, match=victim.study_id) as caught:
        run()
    assert "01010100131" not in str(caught.value)
    assert dict(Participant.objects.values_list("pk", "personal_number_encrypted")) == unchanged
