"""Two-factor sign-in (TOTP devices, recovery codes, verifying a code) and API tokens.

The devices are django-otp's: one ``TOTPDevice`` (an authenticator app) and one
``StaticDevice`` holding single-use recovery codes per user. Wrong codes are throttled per
device by django-otp (the next try must wait 1, 2, 4, 8 … seconds); the wait is stored on the
device row, so it holds across processes and sessions.
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
from base64 import b32encode
from collections.abc import Iterable
from typing import Any

import qrcode
import qrcode.image.svg
from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import ApiToken
from config.network import client_ip
from trial import audit
from trial.models import Trial
from trial.services import TrialError

RECOVERY_CODES = 10
AUTHENTICATOR = "authenticator"
RECOVERY = "recovery codes"


class TwoFactorError(TrialError):
    """A code was wrong, or may not be tried yet."""


def totp_device(user: Any, *, confirmed: bool | None = True) -> TOTPDevice | None:
    devices = TOTPDevice.objects.filter(user=user)
    if confirmed is not None:
        devices = devices.filter(confirmed=confirmed)
    return devices.order_by("-pk").first()


def has_two_factor(user: Any) -> bool:
    return bool(TOTPDevice.objects.filter(user=user, confirmed=True).exists())


def start_setup(user: Any) -> TOTPDevice:
    """The user's unconfirmed authenticator with a fresh secret, kept until it is confirmed.

    Safe to repeat: an unconfirmed device is reused as long as the set-up page is reloaded, so
    the QR code the user scanned stays valid.
    """
    device = totp_device(user, confirmed=False)
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=AUTHENTICATOR, confirmed=False)
    return device


def secret_base32(device: TOTPDevice) -> str:
    """The secret as people type it into an authenticator app, in groups of four."""
    text = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def qr_svg(device: TOTPDevice) -> str:
    """The otpauth:// URL of the device as an inline SVG QR code (no script, no style)."""
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    return str(image.to_string(encoding="unicode"))


def _lock_message(device: Device) -> str | None:
    allowed, info = device.verify_is_allowed()
    if allowed:
        return None
    until: dt.datetime | None = (info or {}).get("locked_until")
    if until is None:
        return _("Too many wrong codes. Wait a moment and try again.")
    seconds = max(1, int((until - timezone.now()).total_seconds()) + 1)
    return _("Too many wrong codes. Try again in %(seconds)s seconds.") % {"seconds": seconds}


def _check(device: Device, code: str) -> None:
    locked = _lock_message(device)
    if locked:
        raise TwoFactorError(locked, field="code")
    if not device.verify_token(code):
        raise TwoFactorError(_("The code is wrong or has expired."), field="code")


def _normalise(code: str) -> str:
    return "".join(code.split()).lower()


@transaction.atomic
def confirm_setup(device: TOTPDevice, code: str, *, actor: Any) -> list[str]:
    """Confirm the authenticator with a code from it, and issue new recovery codes.

    Raises TwoFactorError for a wrong code. Returns the recovery codes, to be shown once.
    Any earlier authenticator of the user is removed: one per user.
    """
    _check(device, _normalise(code))
    TOTPDevice.objects.filter(user=device.user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = _replace_recovery_codes(device.user)
    audit.record("account.two_factor_enabled", device.user, actor=actor)
    return codes


def _replace_recovery_codes(user: Any) -> list[str]:
    static, _created = StaticDevice.objects.get_or_create(
        user=user, name=RECOVERY, defaults={"confirmed": True}
    )
    static.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=static, token=c) for c in codes])
    return codes


@transaction.atomic
def new_recovery_codes(user: Any, *, actor: Any) -> list[str]:
    """Replace the user's recovery codes (the old ones stop working). Returns the new ones."""
    codes = _replace_recovery_codes(user)
    audit.record("account.recovery_codes_replaced", user, actor=actor)
    return codes


def recovery_codes_left(user: Any) -> int:
    return int(StaticToken.objects.filter(device__user=user).count())


def verify(user: Any, code: str) -> Device:
    """The device that accepts ``code``: six digits go to the authenticator, anything else is
    tried as a recovery code (used up when it matches).

    Raises TwoFactorError when the code is wrong or the device is still throttled after
    earlier wrong codes.
    """
    code = _normalise(code)
    if code.isdigit():
        device: Device | None = totp_device(user)
    else:
        device = StaticDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        raise TwoFactorError(_("The code is wrong or has expired."), field="code")
    _check(device, code)
    return device


@transaction.atomic
def disable(user: Any, *, actor: Any) -> None:
    """Remove the user's authenticator and recovery codes. The view allows it only to users
    who are not required to use a second factor."""
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    audit.record("account.two_factor_disabled", user, actor=actor)


def sign_in_wait(request: Any, username: str) -> int:
    """Seconds until ``username`` may try to sign in again from the request's address, after
    django-axes locked the pair out: the cool-off counted from the pair's latest failure."""
    cool_off = get_cool_off(request) or dt.timedelta(minutes=15)
    latest: dt.datetime | None = AccessAttempt.objects.filter(
        username=username, ip_address=client_ip(request)
    ).aggregate(latest=Max("attempt_time"))["latest"]
    if latest is None:
        return math.ceil(cool_off.total_seconds())
    return max(1, math.ceil((latest + cool_off - timezone.now()).total_seconds()))


# --- API tokens ------------------------------------------------------------------------------


def issue_token(user: Any, *, two_factor: bool, actor: Any) -> tuple[ApiToken, str]:
    """A new API token for ``user``, valid for ``API_TOKEN_DAYS``; returns it and its key,
    which is not stored and can be shown only now. ``two_factor``: the user gave a code from a
    second factor (the token endpoint checked it). Audited; each call issues another token.
    """
    key = secrets.token_hex(20)
    now = timezone.now()
    token = ApiToken.objects.create(
        user=user,
        digest=ApiToken.digest_of(key),
        prefix=key[:8],
        two_factor=two_factor,
        created_at=now,
        expires_at=now + dt.timedelta(days=settings.API_TOKEN_DAYS),
    )
    audit.record(
        "account.api_token_issued",
        token,
        actor=actor,
        data={
            "user": user.get_username(),
            "two_factor": two_factor,
            "expires_at": token.expires_at.isoformat(),
        },
    )
    return token, key


@transaction.atomic
def revoke_tokens(
    tokens: Iterable[ApiToken], *, actor: Any, trial: Trial | None = None
) -> list[ApiToken]:
    """Revoke the tokens that are still active; requests with them are refused from now on.

    One audit event per token revoked, in ``trial`` when a coordinator revokes a member's
    tokens from the trial's pages. Returns the tokens revoked: none for tokens that had
    already expired or been revoked, so repeating it changes nothing.
    """
    now = timezone.now()
    revoked = []
    for token in tokens:
        if not token.is_active:
            continue
        token.revoked_at = now
        token.revoked_by = actor
        token.save(update_fields=["revoked_at", "revoked_by"])
        audit.record(
            "account.api_token_revoked",
            token,
            actor=actor,
            trial=trial,
            data={"user": token.user.get_username(), "token": str(token)},
        )
        revoked.append(token)
    return revoked
