"""The admin, behind the same permission layer as the pages and the API.

Domain objects are shown only for trials where the staff user holds the capability, and every
change made here is written to the audit trail like any other.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from trial import audit, permissions
from trial.models import Arm, AuditEvent, Membership, Participant, Site, Trial
from trial.permissions import Perm


class TrialScopedAdmin(admin.ModelAdmin):
    """Filter by the user's trials; edits need ``edit_perm`` in the object's trial."""

    trial_path = "trial"
    view_perm: Perm = Perm.VIEW_TRIAL
    edit_perm: Perm = Perm.CONFIGURE_TRIAL

    def _trial_of(self, obj: Model) -> Trial | None:
        return obj if isinstance(obj, Trial) else getattr(obj, "trial", None)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        trials = permissions.visible_trials(request.user, self.view_perm)
        key = "pk__in" if self.trial_path == "" else f"{self.trial_path}__in"
        return super().get_queryset(request).filter(**{key: trials})

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        if obj is None:
            return self.has_module_permission(request)
        trial = self._trial_of(obj)
        return trial is not None and permissions.has_perm(request.user, trial, self.view_perm)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        if obj is None:
            return permissions.visible_trials(request.user, self.edit_perm).exists()
        trial = self._trial_of(obj)
        return trial is not None and permissions.has_perm(request.user, trial, self.edit_perm)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return permissions.visible_trials(request.user, self.edit_perm).exists()

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False  # trial data is closed or withdrawn, never deleted

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.related_model is Trial:
            kwargs["queryset"] = permissions.visible_trials(request.user, self.edit_perm)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(
        self, request: HttpRequest, obj: Model, form: ModelForm[Any], change: bool
    ) -> None:
        if change:
            before = audit.snapshot(type(obj).objects.get(pk=obj.pk))  # type: ignore[attr-defined]  # a trial model
            super().save_model(request, obj, form, change)
            audit.record_changed(obj, before, actor=request.user)
        else:
            trial = self._trial_of(obj)
            if trial is None:
                raise PermissionDenied
            permissions.require(request.user, trial, self.edit_perm)
            super().save_model(request, obj, form, change)
            audit.record_created(obj, actor=request.user)


@admin.register(Trial)
class TrialAdmin(TrialScopedAdmin):
    trial_path = ""
    list_display = ["code", "title", "design", "status", "target_size"]
    search_fields = ["code", "title", "registry_id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("trial.add_trial")

    def save_model(
        self, request: HttpRequest, obj: Model, form: ModelForm[Any], change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # Whoever creates a trial becomes its first coordinator.
        obj.save()
        audit.record_created(obj, actor=request.user)
        membership = Membership.objects.create(
            trial=obj,
            user=request.user,
            role=Membership.Role.COORDINATOR,  # type: ignore[misc]  # a Trial; staff
        )
        audit.record_created(membership, actor=request.user)


@admin.register(Arm)
class ArmAdmin(TrialScopedAdmin):
    list_display = ["trial", "code", "name", "allocation_weight", "is_control"]
    list_filter = ["trial"]


@admin.register(Site)
class SiteAdmin(TrialScopedAdmin):
    list_display = ["trial", "code", "name", "municipality_number", "region"]
    list_filter = ["trial", "region"]
    search_fields = ["code", "name"]


@admin.register(Membership)
class MembershipAdmin(TrialScopedAdmin):
    view_perm = Perm.MANAGE_MEMBERS
    edit_perm = Perm.MANAGE_MEMBERS
    list_display = ["trial", "user", "role", "unblinded"]
    list_filter = ["trial", "role"]
    filter_horizontal = ["sites"]


@admin.register(Participant)
class ParticipantAdmin(TrialScopedAdmin):
    view_perm = Perm.VIEW_PARTICIPANTS
    edit_perm = Perm.ENROL
    list_display = ["study_id", "trial", "site", "enrolled_on", "status"]
    list_filter = ["trial", "status"]
    search_fields = ["study_id"]
    readonly_fields = ["trial", "study_id", "enrolled_on"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return Participant.objects.visible_to(request.user).select_related("trial", "site")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # enrolment goes through the enrolment service (personal number, study id)


@admin.register(AuditEvent)
class AuditEventAdmin(TrialScopedAdmin):
    view_perm = Perm.VIEW_AUDIT
    list_display = ["created_at", "actor_name", "action", "target_repr", "trial"]
    list_filter = ["trial", "action"]
    search_fields = ["target_repr", "actor_name", "action"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
