"""The API's throttles (``DEFAULT_THROTTLE_CLASSES``): DRF's, with rates from settings.

A separate module from ``config.api``, which DRF's views import through the settings.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from config.network import client_ip


class _SettingsRate:
    """The rate comes from settings when the request is checked (``API_THROTTLE_RATES``, by
    scope), not from a copy DRF takes at import, and the client is the address seen through
    the trusted proxies (config/network.py), as for sign-in lock-outs."""

    scope: str | None

    def get_rate(self) -> str | None:
        rate: str | None = settings.API_THROTTLE_RATES.get(self.scope or "")
        return rate

    def get_ident(self, request: Any) -> str:
        return client_ip(request) or ""


class AnonThrottle(_SettingsRate, AnonRateThrottle):
    """Requests without a user (the token endpoint, the schema), per client address."""


class UserThrottle(_SettingsRate, UserRateThrottle):
    """Requests of a signed-in user (token or session), per user; without one, per address."""
