"""API serializers: one per direction where input and output differ.

Input serializers check the *shape* of a request; the services in ``trial.services`` enforce
the rules. A service's refusal becomes a 400 whose ``errors`` (config.api) map the field at
fault to a list of messages, ``{"field": ["message"]}``, or ``{"non_field_errors": [...]}``
when no single field is at fault. Invalid baseline covariates are reported inside a
``baseline`` object keyed by covariate, ``{"baseline": {"age": ["Must be at least 16."]}}``,
the way DRF reports a nested serializer.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api import SchemaTypedInput
from trial.models import (
    Arm,
    AuditEvent,
    ExclusionReason,
    LossToFollowUp,
    Membership,
    Participant,
    ScreeningRecord,
    Site,
    Trial,
    Visit,
    Withdrawal,
)


class TrialSerializer(serializers.ModelSerializer[Trial]):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Trial
        fields = ["code", "title", "registry_id", "design", "status", "target_size", "role"]

    def get_role(self, trial: Trial) -> str | None:
        from trial.permissions import membership

        m = membership(self.context["request"].user, trial)
        return m.role if m else None


class ArmSerializer(serializers.ModelSerializer[Arm]):
    """Arms; the name is null for users who may not see allocations (blinded)."""

    name = serializers.SerializerMethodField()

    class Meta:
        model = Arm
        fields = ["code", "name", "allocation_weight", "is_control"]

    def get_name(self, arm: Arm) -> str | None:
        return arm.name if self.context.get("unblinded") else None

    def to_representation(self, instance: Arm) -> dict[str, Any]:
        data = super().to_representation(instance)
        if not self.context.get("unblinded"):
            data["is_control"] = None
        return data


class SiteSerializer(serializers.ModelSerializer[Site]):
    class Meta:
        model = Site
        fields = ["code", "name", "municipality_number", "region"]


class ParticipantSerializer(serializers.ModelSerializer[Participant]):
    """A participant as the API shows them: by study id, never by personal number."""

    site: serializers.SlugRelatedField[Site] = serializers.SlugRelatedField(
        slug_field="code", read_only=True
    )

    class Meta:
        model = Participant
        fields = [
            "study_id",
            "site",
            "enrolled_on",
            "status",
            "baseline",
            "consent_version",
            "consent_date",
            "randomised_on",
        ]


class EnrolmentSerializer(SchemaTypedInput, serializers.Serializer[Any]):
    """Input for enrolling one person; the response is a ParticipantSerializer.

    ``personal_number`` is write-only: it is validated and stored encrypted by the service and
    never returned. ``baseline`` maps covariate keys to values; errors come back as
    ``{"baseline": {"<key>": ["message"]}}``. Enrolling a person twice gives
    ``{"personal_number": ["This person is already enrolled in the trial as <study id>."]}``.
    """

    site = serializers.SlugRelatedField(
        slug_field="code", queryset=Site.objects.none(), help_text=_("Site code.")
    )
    personal_number = serializers.CharField(
        write_only=True,
        max_length=13,
        help_text=_("Fødselsnummer or D-number, 11 digits. Stored encrypted; never returned."),
    )
    enrolled_on = serializers.DateField()
    consent_version = serializers.CharField(max_length=40)
    consent_date = serializers.DateField()
    baseline = serializers.DictField(
        required=False,
        default=dict,
        help_text=_("Baseline covariates by key, as defined for the trial."),
    )
    screening = serializers.PrimaryKeyRelatedField(
        queryset=ScreeningRecord.objects.none(),
        required=False,
        allow_null=True,
        default=None,
        help_text=_("Id of this person's eligible screening record, if one was logged."),
    )
    accept_ineligible = serializers.BooleanField(
        required=False,
        default=False,
        help_text=_(
            "Enrol although a baseline value is outside its eligibility range, when the trial "
            "accepts such values with a warning (its eligibility_check is warn). Without it, "
            "such an enrolment is refused with the values named."
        ),
    )

    def __init__(self, *args: Any, sites: QuerySet[Site] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if sites is not None:
            self.fields["site"].queryset = sites  # type: ignore[attr-defined]  # a ModelChoiceField
            self.fields["screening"].queryset = ScreeningRecord.objects.filter(site__in=sites)  # type: ignore[attr-defined]  # a ModelChoiceField


class WithdrawalSerializer(SchemaTypedInput, serializers.ModelSerializer[Withdrawal]):
    """A withdrawal: input is the date, scope and reason; the output adds the study id."""

    study_id = serializers.CharField(source="participant.study_id", read_only=True)

    class Meta:
        model = Withdrawal
        fields = ["study_id", "withdrawn_on", "scope", "reason", "created_at"]
        read_only_fields = ["created_at"]


class LossToFollowUpSerializer(SchemaTypedInput, serializers.ModelSerializer[LossToFollowUp]):
    """A loss to follow-up: input is the date, reason and what was tried."""

    study_id = serializers.CharField(source="participant.study_id", read_only=True)

    class Meta:
        model = LossToFollowUp
        fields = ["study_id", "lost_on", "reason", "detail", "created_at"]
        read_only_fields = ["created_at"]


class ScreeningSerializer(SchemaTypedInput, serializers.ModelSerializer[ScreeningRecord]):
    """One screening log entry. It holds no identity; ``study_id`` is set once enrolled."""

    site = serializers.SlugRelatedField(
        slug_field="code", queryset=Site.objects.none(), help_text=_("Site code.")
    )
    exclusion_reason = serializers.SlugRelatedField(
        slug_field="code",
        queryset=ExclusionReason.objects.none(),
        required=False,
        allow_null=True,
        default=None,
        help_text=_("Code of the trial's exclusion reason; required when not eligible."),
    )
    study_id: serializers.SlugRelatedField[Participant] = serializers.SlugRelatedField(
        source="participant", slug_field="study_id", read_only=True, allow_null=True
    )

    class Meta:
        model = ScreeningRecord
        fields = [
            "id",
            "site",
            "screened_on",
            "eligible",
            "exclusion_reason",
            "declined",
            "study_id",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]
        extra_kwargs = {"declined": {"default": False}}

    def __init__(
        self,
        *args: Any,
        trial: Trial | None = None,
        sites: QuerySet[Site] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if trial is not None and sites is not None:
            self.fields["site"].queryset = sites  # type: ignore[attr-defined]  # a ModelChoiceField
            self.fields["exclusion_reason"].queryset = trial.exclusion_reasons.all()  # type: ignore[attr-defined]  # a ModelChoiceField


class ParticipantFilterSerializer(serializers.Serializer[Any]):
    """Query parameters of the participant list."""

    site = serializers.CharField(required=False, help_text=_("Site code."))
    status = serializers.ChoiceField(choices=Participant.Status.choices, required=False)


class ScreeningFilterSerializer(serializers.Serializer[Any]):
    """Query parameters of the screening log."""

    site = serializers.CharField(required=False, help_text=_("Site code."))
    eligible = serializers.BooleanField(required=False)
    screened_from = serializers.DateField(
        required=False, help_text=_("Screened on or after this date.")
    )
    screened_to = serializers.DateField(
        required=False, help_text=_("Screened on or before this date.")
    )


class VisitSerializer(serializers.ModelSerializer[Visit]):
    """One participant's follow-up visit with its status on the day of the request."""

    study_id = serializers.CharField(source="participant.study_id", read_only=True)
    site = serializers.CharField(source="participant.site.code", read_only=True)
    visit = serializers.CharField(
        source="definition.code", read_only=True, help_text=_("Visit key, e.g. m6.")
    )
    visit_label = serializers.CharField(source="definition.label", read_only=True)
    status = serializers.SerializerMethodField()
    in_window = serializers.BooleanField(
        read_only=True,
        allow_null=True,
        help_text=_("Whether it was completed inside its window; null while not completed."),
    )

    class Meta:
        model = Visit
        fields = [
            "id",
            "study_id",
            "site",
            "visit",
            "visit_label",
            "due_on",
            "window_start",
            "window_end",
            "completed_on",
            "missed",
            "status",
            "in_window",
        ]

    @extend_schema_field(
        serializers.ChoiceField(
            choices=Visit.Status.choices, help_text=_("Status on the day of the request.")
        )
    )
    def get_status(self, visit: Visit) -> str:
        today: dt.date = self.context["today"]
        return visit.status_on(today)


class VisitFilterSerializer(serializers.Serializer[Any]):
    """Query parameters of the visit list. Dates are inclusive."""

    site = serializers.CharField(required=False, help_text=_("Site code."))
    status = serializers.ChoiceField(
        choices=Visit.Status.choices,
        required=False,
        help_text=_("Status today, as in the response's status field."),
    )
    participant = serializers.CharField(required=False, help_text=_("Study id."))
    visit = serializers.CharField(required=False, help_text=_("Visit key, e.g. m6."))
    due_after = serializers.DateField(required=False, help_text=_("Due on or after this date."))
    due_before = serializers.DateField(required=False, help_text=_("Due on or before this date."))


class MembershipSerializer(serializers.ModelSerializer[Membership]):
    trial: serializers.SlugRelatedField[Trial] = serializers.SlugRelatedField(
        slug_field="code", read_only=True
    )
    sites: serializers.SlugRelatedField[Site] = serializers.SlugRelatedField(
        slug_field="code", many=True, read_only=True
    )

    class Meta:
        model = Membership
        fields = ["trial", "role", "sites", "unblinded"]


class MeSerializer(serializers.Serializer[Any]):
    username = serializers.CharField()
    name = serializers.CharField()
    memberships = MembershipSerializer(many=True)


class AuditEventSerializer(serializers.ModelSerializer[AuditEvent]):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created_at",
            "actor_name",
            "action",
            "target_type",
            "target_id",
            "target_repr",
            "data",
        ]
