from typing import Any

from rest_framework import serializers

from trial.models import Arm, AuditEvent, Membership, Participant, Site, Trial


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
    site = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = Participant
        fields = ["study_id", "site", "enrolled_on", "status", "baseline"]


class MembershipSerializer(serializers.ModelSerializer[Membership]):
    trial = serializers.SlugRelatedField(slug_field="code", read_only=True)
    sites = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)

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
