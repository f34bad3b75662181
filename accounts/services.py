"""Two-factor sign-in (TOTP devices, recovery codes, verifying a code), API tokens, and the
users that single sign-on finds or makes.

The devices are django-otp's: one ``TOTPDevice`` (an authenticator app) and one
``StaticDevice`` holding single-use recovery codes per user. Wrong codes are throttled per
device by django-otp (the next try must wait 1, 2, 4, 8 … seconds); the wait is stored on the
device row, so it holds across processes and sessions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import secrets
from base64 import b32encode
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import qrcode
import qrcode.image.svg
from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import ApiToken, ExternalIdentity
from config.network import client_ip
from trial import audit
from trial.models import Trial
from trial.permissions import requires_two_factor
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


# --- single sign-on (accounts/oidc.py) -------------------------------------------------------


class SignInRefused(TrialError):
    """The identity provider signed someone in whom this system does not let in."""


@dataclass(frozen=True)
class SignIn:
    """The user a sign-in through the identity provider found or made, and how."""

    user: Any
    identity: ExternalIdentity
    created: bool  # a new user, made from the claims now
    linked: bool  # the identity is new: linked to a new user, or to one by e-mail


def _claim(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    return value.strip() if isinstance(value, str) else ""


def _profile(claims: Mapping[str, Any]) -> dict[str, str]:
    """First and last name and e-mail address from the standard claims, cut to the user
    model's lengths. Only ``name`` given: the last word is the last name."""
    first, last = _claim(claims, "given_name"), _claim(claims, "family_name")
    if not first and not last and _claim(claims, "name"):
        *given, family = _claim(claims, "name").split()
        first, last = " ".join(given), family
    email = _claim(claims, "email")
    return {
        "first_name": first[:150],
        "last_name": last[:150],
        "email": email if len(email) <= 254 and "@" in email else "",
    }


def _free_username(claims: Mapping[str, Any], issuer: str, subject: str) -> str:
    """A user name for a new user: the provider's user name (Entra ID: the sign-in address),
    else the e-mail address, else one made from the identity (ID-porten gives no name).
    Characters Django does not allow become "-"; a name taken already (whoever has it) gets
    "-2", "-3" ...: a local user is never found by name."""
    for name in ("preferred_username", "upn", "email"):
        base = _claim(claims, name)
        if base:
            break
    else:
        digest = hashlib.sha256(f"{issuer} {subject}".encode()).hexdigest()[:10]
        base = f"sso-{digest}"
    base = re.sub(r"[^\w.@+-]", "-", base.lower())[:140]
    users = get_user_model().objects
    candidate, number = base, 1
    while users.filter(username__iexact=candidate).exists():
        number += 1
        candidate = f"{base}-{number}"
    return candidate


def _user_by_verified_email(claims: Mapping[str, Any], issuer: str) -> Any | None:
    """The one active user with the claims' e-mail address, when the provider says it verified
    the address and that user has no other identity at this provider; else None."""
    email = _claim(claims, "email")
    if not email or claims.get("email_verified") not in (True, "true"):
        return None
    found = list(get_user_model().objects.filter(email__iexact=email, is_active=True)[:2])
    if len(found) != 1:
        return None
    if ExternalIdentity.objects.filter(user=found[0], issuer=issuer).exists():
        return None
    return found[0]


@transaction.atomic
def sign_in_identity(
    *,
    issuer: str,
    subject: str,
    claims: Mapping[str, Any],
    provider: str,
    create_users: bool,
    link_by_email: bool,
) -> SignIn:
    """The user signed in by the identity provider as ``subject`` at ``issuer`` (the ID token's
    ``sub`` and ``iss``, checked by the caller), found by that pair alone.

    A first sign-in links the identity to the one local user with the same e-mail address when
    ``link_by_email`` and the provider verified the address, else makes a new user from the
    claims (no password, no trial membership: a coordinator grants access in the app) when
    ``create_users``; otherwise raises SignInRefused. Later sign-ins bring the names and the
    e-mail address up to date with the claims. Audited: the new user or link, and changes.
    """
    now = timezone.now()
    identity = (
        ExternalIdentity.objects.select_for_update()
        .select_related("user")
        .filter(issuer=issuer, subject=subject)
        .first()
    )
    if identity is not None:
        identity.last_login = now
        identity.save(update_fields=["last_login"])
        _update_profile(identity.user, claims, identity)
        return SignIn(identity.user, identity, created=False, linked=False)
    user = _user_by_verified_email(claims, issuer) if link_by_email else None
    created = user is None
    if user is None:
        if not create_users:
            raise SignInRefused(
                _(
                    "No account here is linked to your %(provider)s account. Ask the "
                    "system's administrator for one."
                )
                % {"provider": provider}
            )
        user = get_user_model()(
            username=_free_username(claims, issuer, subject), **_profile(claims)
        )
        user.set_unusable_password()
        user.save()
    identity = ExternalIdentity.objects.create(
        user=user,
        name=provider[:64],
        confirmed=True,
        issuer=issuer,
        subject=subject,
        created_at=now,
        last_login=now,
    )
    audit.record(
        "account.created_from_sign_in" if created else "account.identity_linked",
        identity,
        actor=user,
        data={
            "user": user.get_username(),
            "provider": provider,
            "issuer": issuer,
            **({} if created else {"by": "verified e-mail address"}),
        },
    )
    return SignIn(user, identity, created=created, linked=True)


def _update_profile(user: Any, claims: Mapping[str, Any], identity: ExternalIdentity) -> None:
    profile = {key: value for key, value in _profile(claims).items() if value}
    changed = {
        key: [getattr(user, key), value]
        for key, value in profile.items()
        if getattr(user, key) != value
    }
    if not changed:
        return
    for key, (_before, after) in changed.items():
        setattr(user, key, after)
    user.save(update_fields=list(changed))
    audit.record(
        "account.profile_updated_from_sign_in",
        identity,
        actor=user,
        data={"user": user.get_username(), "changes": changed},
    )


@transaction.atomic
def issue_token_for_session(user: Any, *, verified: bool) -> tuple[ApiToken, str]:
    """An API token asked for on the "Sign-in security" page, by a signed-in session.

    The token has ``two_factor`` when the session was verified by a second factor, the
    authenticator's code or the identity provider's (``accounts.oidc``), as the token endpoint
    gives it after a code. A session that must be verified and is not gets none (the two-factor
    middleware does not let it reach the page either): raises TwoFactorError.
    """
    if not verified and (has_two_factor(user) or requires_two_factor(user)):
        raise TwoFactorError(
            _("Sign in with your second factor first; then you can get an API token.")
        )
    return issue_token(user, two_factor=verified, actor=user)
