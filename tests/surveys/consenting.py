"""Builders for the electronic-consent tests: a published consent text, a consent link, and
the form a participant posts on the consent screen."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from surveys.consent import delivery, services
from surveys.consent.models import ConsentRequest, ConsentText
from surveys.consent.text import shown
from tests.surveys.scene import Scene

TEXT_NB = (
    "# Om studien\n\nDu er invitert til å delta i studien.\n\n"
    "- Deltakelse er frivillig\n- Du kan trekke deg når som helst"
)
TEXT_EN = (
    "# About the study\n\nYou are invited to take part in the study.\n\n"
    "- Taking part is voluntary\n- You may withdraw at any time"
)
NAME = "Kari Nordmann-Testesen"


def publish(
    scene: Scene,
    version: str = "2.0",
    *,
    text_nb: str = TEXT_NB,
    text_en: str = TEXT_EN,
    effective_on: dt.date | None = None,
) -> ConsentText:
    draft = services.save_text(
        scene.trial,
        version=version,
        text_nb=text_nb,
        text_en=text_en,
        effective_on=effective_on or timezone.localdate(),
        actor=scene.coordinator,
    )
    return services.publish_text(draft, actor=scene.coordinator)


def consent_link(scene: Scene, text: ConsentText) -> tuple[ConsentRequest, str]:
    """Ask the scene's participant for consent and send the link (the task the request
    enqueues on commit, which a test's transaction never reaches, run here)."""
    request, _created = delivery.request_consent(scene.participant, text, actor=scene.coordinator)
    delivery.send_consent_requests(timezone.localdate())
    return request, f"/c/{delivery.token_for(request)}/"


def answer(
    text: ConsentText,
    language: str,
    *,
    action: str = "consent",
    name: str = NAME,
    day: dt.date | None = None,
) -> dict[str, Any]:
    screen = shown(text, language)
    return {
        "text": str(text.pk),
        "language": language,
        "shown_sha256": screen.sha256,
        "typed_name": name,
        "signed_on": (day or timezone.localdate()).isoformat(),
        "action": action,
    }
