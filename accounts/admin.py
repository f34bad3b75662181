"""API tokens in the admin site: read-only, with an action that revokes (superusers and staff
with the model's change permission). Tokens are issued only by the token endpoint and the
"Sign-in security" page, which check the second factor; the admin cannot make one.

Single sign-on identities: read-only; deleting one unlinks the provider's account from the
user (its next sign-in makes a new user, or links by e-mail if that is allowed)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts import services
from accounts.models import ApiToken, ExternalIdentity


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["__str__", "user", "two_factor", "created_at", "expires_at", "revoked_at"]
    list_filter = ["two_factor"]
    search_fields = ["user__username", "prefix"]
    list_select_related = ["user"]
    fields = [
        "user",
        "prefix",
        "two_factor",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "revoked_by",
    ]
    readonly_fields = fields  # type: ignore[assignment]  # a flat list of names
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    @admin.action(description=_("Revoke the selected API tokens"), permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = services.revoke_tokens(queryset.select_related("user"), actor=request.user)
        self.message_user(
            request,
            ngettext("%(count)s token revoked.", "%(count)s tokens revoked.", len(revoked))
            % {"count": len(revoked)},
            messages.SUCCESS,
        )


@admin.register(ExternalIdentity)
class ExternalIdentityAdmin(admin.ModelAdmin):
    list_display = ["user", "name", "issuer", "created_at", "last_login"]
    list_filter = ["issuer"]
    search_fields = ["user__username", "subject"]
    list_select_related = ["user"]
    fields = ["user", "name", "issuer", "subject", "created_at", "last_login"]
    readonly_fields = fields  # type: ignore[assignment]  # a flat list of names

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
