"""API tokens: keys for the API that expire, can be revoked, and remember whether they were
issued after a second factor; and the identities users sign in with through single sign-on."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_otp.models import Device


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def active(self) -> ApiTokenQuerySet:
        """Tokens that neither expired nor were revoked."""
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())


class ApiToken(models.Model):
    """A key for the API, sent as ``Authorization: Token KEY``.

    Only a SHA-256 digest of the key is kept (the key is random, 160 bits, so no slow hash is
    needed); the key itself is shown once, when it is issued, and the first characters are
    kept to tell a user's tokens apart. ``two_factor`` says the user gave a code from a second
    factor to get it: a token without one is refused as soon as the user's roles need one
    (``accounts.authentication``). Revoked tokens are kept, with who revoked them and when.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    digest = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(_("starts with"), max_length=8, editable=False)
    two_factor = models.BooleanField(_("issued after a second factor"), default=False)
    created_at = models.DateTimeField(_("issued"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.prefix}…"

    @staticmethod
    def digest_of(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


class ExternalIdentity(Device):
    """A user's account at the single sign-on provider (OpenID Connect): the provider's issuer
    and the subject identifier it gives the user, the ID token's ``iss`` and ``sub``, which
    together never change and are never reused. Sign-ins match users on this pair alone, never
    on a name or an e-mail address (``accounts.services.sign_in_identity``).

    It is also a django-otp device, the one that stands for "the provider vouched for a second
    factor at this sign-in": when the ID token says so (``amr``/``acr``,
    ``accounts.oidc.vouches_for_second_factor``) the callback marks the session verified by
    this device, exactly as the TOTP step marks it with the authenticator. No code ever matches
    it (``verify_token`` refuses everything), so it verifies a session only there; deleting
    the identity ends the verification of the sessions it verified.
    """

    issuer = models.CharField(_("issuer"), max_length=255)
    subject = models.CharField(_("subject"), max_length=255)
    created_at = models.DateTimeField(_("linked"), default=timezone.now)
    last_login = models.DateTimeField(_("last sign-in"), null=True, blank=True)

    class Meta:
        ordering = ["issuer", "subject"]
        verbose_name = _("single sign-on identity")
        verbose_name_plural = _("single sign-on identities")
        constraints = [
            models.UniqueConstraint(
                fields=["issuer", "subject"], name="accounts_identity_issuer_subject"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.subject}"

    def verify_token(self, token: object) -> bool:
        return False
