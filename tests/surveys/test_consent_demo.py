"""The demo trial has its consent form published in bokmål and English, the versions its
participants signed, so that e-consent works in the demo."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from demo.seed import seed_demo
from surveys.consent.models import ConsentText
from tests.conftest import verified_login
from trial.models import Participant

pytestmark = pytest.mark.django_db


def test_the_demo_trial_has_a_published_consent_text_in_both_languages() -> None:
    as_of = dt.date(2026, 6, 1)
    result = seed_demo(participants=12, seed=3, as_of=as_of)
    texts = ConsentText.objects.filter(trial=result.trial)
    assert {t.version for t in texts} == {"2.0", "2.1"}
    assert all(t.published and t.text_nb and t.text_en for t in texts)
    current = ConsentText.objects.current(result.trial, as_of)
    assert current is not None and current.version == "2.1"
    assert "IPS" in current.text_en and "frivillig" in current.text_nb
    # Participants signed the version in force when they were enrolled.
    for participant in Participant.objects.filter(trial=result.trial):
        signed = ConsentText.objects.current(result.trial, participant.enrolled_on)
        assert signed is not None and signed.version == participant.consent_version
    user = get_user_model().objects.get(username="coordinator")
    coordinator = verified_login(Client(), user)
    page = coordinator.get(f"/trials/{result.trial.code}/consent/")
    assert page.status_code == 200 and "2.1" in page.content.decode()
