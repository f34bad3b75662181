"""REST API for intervention components, the contact log and contamination exposures.

The views follow ``trial.api``: the trial is resolved through ``trial.permissions`` (outsiders
404, members without the capability 403), a serializer checks the input's shape, one service in
``fidelity.services`` applies the rules, and its refusal becomes a 400 with field errors.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from fidelity import services
from fidelity.models import Component, Contact, Exposure
from fidelity.serializers import (
    ComponentSerializer,
    ContactEditSerializer,
    ContactFilterSerializer,
    ContactInputSerializer,
    ContactSerializer,
    ExposureFilterSerializer,
    ExposureSerializer,
)
from trial import permissions
from trial.api import TrialScopedMixin, field_errors, query_filters, service_errors
from trial.permissions import Perm

LOCKED = OpenApiResponse(
    description="Not the contact's author, or its edit window has closed; the body's detail "
    "says which."
)


class ComponentList(TrialScopedMixin, generics.ListAPIView[Component]):
    """The trial's intervention components, in their order."""

    serializer_class = ComponentSerializer
    pagination_class = None

    def get_queryset(self) -> QuerySet[Component]:
        return Component.objects.filter(trial=self.get_trial()).order_by("order", "code")


class ContactScopedMixin(TrialScopedMixin):
    def visible_contacts(self) -> QuerySet[Contact]:
        """Contacts at the user's sites (a participant's contact is at the participant's site)."""
        trial = self.get_trial()
        return (
            Contact.objects.filter(
                trial=trial, site__in=permissions.visible_sites(self.request.user, trial)
            )
            .select_related("site", "participant")
            .prefetch_related("components")
        )


@extend_schema_view(get=extend_schema(parameters=[ContactFilterSerializer]))
class ContactList(ContactScopedMixin, generics.ListAPIView[Contact]):
    """The contact log of the user's sites; POST logs a contact (needs the log-contact right)."""

    serializer_class = ContactSerializer
    trial_perm = Perm.VIEW_PARTICIPANTS
    write_perm = Perm.LOG_CONTACT

    def get_queryset(self) -> QuerySet[Contact]:
        filters = query_filters(ContactFilterSerializer, self.request)
        queryset = self.visible_contacts().order_by("-contact_on", "-id")
        if "site" in filters:
            queryset = queryset.filter(site__code=filters["site"])
        if "participant" in filters:
            queryset = queryset.filter(participant__study_id=filters["participant"])
        if "contact_from" in filters:
            queryset = queryset.filter(contact_on__gte=filters["contact_from"])
        if "contact_to" in filters:
            queryset = queryset.filter(contact_on__lte=filters["contact_to"])
        return queryset

    @extend_schema(
        request=ContactInputSerializer,
        responses={
            201: ContactSerializer,
            200: OpenApiResponse(
                ContactSerializer,
                description="A resubmission with a client_id already used: the first contact.",
            ),
            400: field_errors(
                future_date={"contact_on": ["The contact date cannot be in the future."]},
                reused_client_id={
                    "client_id": ["This client id was used for a different contact."]
                },
            ),
            404: OpenApiResponse(description="The participant is not inside the user's sites."),
        },
        summary="Log a contact",
        description="A contact with a participant (study_id) or with an employer about no "
        "single participant (site, and 'employer' among the partners). Send a client-generated "
        "client_id so that a retried submission returns the first contact (200) instead of "
        "logging it twice. A contact delivering an intervention-specific component to a "
        "control participant records a contamination exposure.",
    )
    def post(self, request: Request, code: str) -> Response:
        trial = self.get_trial()
        serializer = ContactInputSerializer(
            data=request.data,
            sites=permissions.visible_sites(request.user, trial),
            components=Component.objects.filter(trial=trial),
        )
        serializer.is_valid(raise_exception=True)
        values = dict(serializer.validated_data)
        study_id = values.pop("study_id")
        participant = (
            permissions.get_participant(request.user, trial, study_id, Perm.LOG_CONTACT)
            if study_id
            else None
        )
        with service_errors():
            contact, created = services.log_contact(
                trial,
                actor=request.user,  # type: ignore[arg-type]
                participant=participant,
                **values,
            )
        location = reverse("v1:contact-detail", args=[trial.code, contact.pk])
        return Response(
            ContactSerializer(contact).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
            headers={"Location": location},
        )


class ContactDetail(ContactScopedMixin, generics.RetrieveAPIView[Contact]):
    """One contact; PATCH corrects it (its author only, within the edit window)."""

    serializer_class = ContactSerializer
    trial_perm = Perm.VIEW_PARTICIPANTS
    write_perm = Perm.LOG_CONTACT

    def get_object(self) -> Contact:
        return get_object_or_404(self.visible_contacts(), pk=self.kwargs["contact_id"])

    @extend_schema(
        request=ContactEditSerializer,
        responses={
            200: ContactSerializer,
            400: field_errors(out_of_range={"minutes": ["A contact lasts from 1 to 600 minutes."]}),
            403: LOCKED,
        },
        summary="Correct a contact",
        description="Only the caseworker who logged the contact may change it, and only for "
        "CONTACT_EDIT_HOURS after logging it; then it is locked. The participant and site "
        "cannot be changed. Every change is audited with its before and after.",
    )
    def patch(self, request: Request, code: str, contact_id: int) -> Response:
        contact = self.get_object()
        serializer = ContactEditSerializer(
            data=request.data, components=Component.objects.filter(trial=self.get_trial())
        )
        serializer.is_valid(raise_exception=True)
        with service_errors():
            try:
                services.edit_contact(
                    contact,
                    actor=request.user,  # type: ignore[arg-type]
                    **serializer.validated_data,
                )
            except services.ContactLocked as locked:
                raise exceptions.PermissionDenied(locked.message) from None
        return Response(ContactSerializer(self.get_object()).data)


@extend_schema_view(get=extend_schema(parameters=[ExposureFilterSerializer]))
class ExposureList(TrialScopedMixin, generics.ListAPIView[Exposure]):
    """Contamination exposures of participants inside the user's sites.

    Only control participants have exposures, so the list reveals allocations: it needs the
    right to see them as well as participants (blinded statisticians get 403).
    """

    serializer_class = ExposureSerializer
    trial_perm = Perm.VIEW_PARTICIPANTS

    def get_queryset(self) -> QuerySet[Exposure]:
        trial = self.get_trial()
        permissions.require(self.request.user, trial, Perm.VIEW_ALLOCATION)
        filters = query_filters(ExposureFilterSerializer, self.request)
        sites = permissions.visible_sites(self.request.user, trial)
        queryset = (
            Exposure.objects.filter(trial=trial)
            .filter(Q(site__in=sites) | Q(participant__site__in=sites))
            .select_related("participant", "site", "component")
            .order_by("-exposed_on", "-id")
        )
        if "site" in filters:
            queryset = queryset.filter(site__code=filters["site"])
        if "participant" in filters:
            queryset = queryset.filter(participant__study_id=filters["participant"])
        if "source" in filters:
            queryset = queryset.filter(source=filters["source"])
        return queryset
