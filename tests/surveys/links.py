"""Opening and answering a participant's link, for the survey tests."""

from __future__ import annotations

from django.test import Client

from surveys import services
from surveys.models import Invitation


def url(invitation: Invitation) -> str:
    return f"/q/{services.token_for(invitation)}/"


def answer_all(client: Client, invitation: Invitation) -> None:
    link = url(invitation)
    for data in (
        {"item": "mood", "mood": "1"},
        {"item": "worked", "worked": "1"},
        {"item": "hours", "hours": "20"},
        {"item": "comment", "comment": "Fine"},
    ):
        response = client.post(link, {**data, "action": "next"})
        assert response.status_code == 302, response.content.decode()[:2000]
