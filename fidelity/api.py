"""REST API for intervention components, the contact log and contamination exposures.

The views follow ``trial.api``: the trial is resolved through ``trial.permissions`` (outsiders
404, members without the capability 403), a serializer checks the input's shape, one service in
``fidelity.services`` applies the rules, and its refusal becomes a 400 with field errors.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from fidelity import adaptations, contamination, services
from fidelity.models import Adaptation, Component, Contact, Exposure
from fidelity.serializers import (
    AdaptationCreateSerializer,
    AdaptationInputSerializer,
    AdaptationSerializer,
    ComponentSerializer,
    ContactBatchResponseSerializer,
    ContactBatchSerializer,
    ContactEditSerializer,
    ContactFilterSerializer,
    ContactInputSerializer,
    ContactSerializer,
    ExposureFilterSerializer,
    ExposureSerializer,
    SiteEventInputSerializer,
    SiteEventRecordedSerializer,
    SiteEventRemovalSerializer,
)
from trial import permissions
from trial.api import TrialScopedMixin, field_errors, query_filters, service_errors
from trial.models import Participant
from trial.permissions import AuthenticatedRequest, Perm

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
        """Contacts at the user's sites (a participant's contact is at the participant's site).

        The components delivered (and how often a participant is seen) tell the arm, so reading
        contacts needs the right to see allocations too: blinded statisticians get 403, as on
        the pages, which show contacts only to those who may see the arm.
        """
        trial = self.get_trial()
        permissions.require(self.request.user, trial, Perm.VIEW_ALLOCATION)
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
        examples=[
            OpenApiExample(
                "A meeting with a participant",
                value={
                    "client_id": "0b6f3c1e-8d2a-4f5b-9c7e-1a2b3c4d5e6f",
                    "study_id": "OSL1-4KQ7ZD",
                    "contact_on": "2026-05-04",
                    "mode": "in_person",
                    "minutes": 45,
                    "partners": ["participant", "employer"],
                    "components": ["job_development"],
                    "note": "Visited the warehouse together.",
                },
                request_only=True,
            )
        ],
        summary="Log a contact",
        description="A contact with a participant (study_id) or with an employer about no "
        "single participant (site, and 'employer' among the partners). Send a client-generated "
        "client_id so that a retried submission returns the first contact (200) instead of "
        "logging it twice. A contact delivering an intervention-specific component to a "
        "control participant records a contamination exposure.",
    )
    def post(self, request: AuthenticatedRequest, code: str) -> Response:
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
                actor=request.user,
                participant=participant,
                **values,
            )
        location = reverse("v1:contact-detail", args=[trial.code, contact.pk])
        return Response(
            ContactSerializer(contact).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
            headers={"Location": location},
        )


class ContactBatch(TrialScopedMixin, generics.GenericAPIView[Contact]):
    """Log many contacts in one request (a laptop that worked offline, another system)."""

    serializer_class = ContactBatchSerializer
    trial_perm = Perm.LOG_CONTACT

    @extend_schema(
        request=ContactBatchSerializer,
        responses={
            200: ContactBatchResponseSerializer,
            400: field_errors(
                refused_item={
                    "contacts": {"1": {"contact_on": ["The contact date cannot be in the future."]}}
                }
            ),
        },
        summary="Log many contacts",
        description="Up to 500 contacts, each with its client_id, all saved or none: a 400 lists "
        "the faults under 'contacts', keyed by each refused contact's position in the list "
        "(from 0), and nothing is saved. The same rules as for one contact apply; "
        "a participant outside the user's sites is an unknown participant. A contact whose "
        "client_id was used before for the same contact is not saved again (created: false), "
        "so a batch can be resent safely after a lost response.",
    )
    def post(self, request: AuthenticatedRequest, code: str) -> Response:
        trial = self.get_trial()
        user: User = request.user
        batch = ContactBatchSerializer(data=request.data)
        batch.is_valid(raise_exception=True)
        items = batch.validated_data["contacts"]
        sites = {s.code: s for s in permissions.visible_sites(request.user, trial)}
        components = {c.code: c for c in Component.objects.filter(trial=trial)}
        study_ids = {item["study_id"] for item in items if item["study_id"]}
        participants = {
            p.study_id: p
            for p in permissions.scope_participants(
                Participant.objects.filter(trial=trial, study_id__in=study_ids),
                user,
                Perm.LOG_CONTACT,
            ).select_related("site")
        }
        errors: dict[int, dict[str, list[str]]] = {}
        entries: list[services.ContactEntry] = []
        for index, item in enumerate(items):
            participant = participants.get(item["study_id"]) if item["study_id"] else None
            if item["study_id"] and participant is None:
                errors.setdefault(index, {})["study_id"] = [_("Unknown participant.")]
            site = sites.get(item["site"]) if item["site"] else None
            if item["site"] and site is None:
                errors.setdefault(index, {})["site"] = [_("Unknown site.")]
            unknown = [c for c in item["components"] if c not in components]
            if unknown:
                errors.setdefault(index, {})["components"] = [
                    _("Unknown intervention component: %(codes)s.") % {"codes": ", ".join(unknown)}
                ]
            entries.append(
                services.ContactEntry(
                    participant=participant,
                    site=site,
                    contact_on=item["contact_on"],
                    mode=item["mode"],
                    minutes=item["minutes"],
                    partners=item["partners"],
                    components=[components[c] for c in item["components"] if c in components],
                    note=item["note"],
                    client_id=item["client_id"],
                )
            )
        # Entries that passed the checks above go through the service's checks too, so that a
        # 400 names every fault of the batch at once.
        rest = [index for index in range(len(entries)) if index not in errors]
        try:
            if errors:
                services.check_contacts(trial, actor=user, entries=[entries[i] for i in rest])
            else:
                results = services.log_contacts(trial, actor=user, entries=entries)
        except services.ContactBatchError as refused:
            for position, error in refused.errors.items():
                field = error.field or api_settings.NON_FIELD_ERRORS_KEY
                errors.setdefault(rest[position], {})[field] = [error.message]
        if errors:
            raise exceptions.ValidationError({"contacts": dict(sorted(errors.items()))})  # type: ignore[arg-type]  # by position
        created = sum(1 for _contact, new in results if new)
        return Response(
            {
                "created": created,
                "existing": len(results) - created,
                "results": [
                    {"id": contact.pk, "client_id": contact.client_id, "created": new}
                    for contact, new in results
                ],
            }
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
    def patch(self, request: AuthenticatedRequest, code: str, contact_id: int) -> Response:
        contact = self.get_object()
        serializer = ContactEditSerializer(
            data=request.data, components=Component.objects.filter(trial=self.get_trial())
        )
        serializer.is_valid(raise_exception=True)
        with service_errors():
            try:
                services.edit_contact(
                    contact,
                    actor=request.user,
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


class SiteEventList(TrialScopedMixin, generics.ListAPIView[Exposure]):
    """Site-level events at control sites (one exposure per component named), newest first;
    POST records one. Coordinators (the configure-trial right), as on the page."""

    serializer_class = ExposureSerializer
    trial_perm = Perm.CONFIGURE_TRIAL

    def get_queryset(self) -> QuerySet[Exposure]:
        return (
            Exposure.objects.filter(trial=self.get_trial(), source=Exposure.Source.SITE_EVENT)
            .select_related("participant", "site", "component")
            .order_by("-exposed_on", "-id")
        )

    @extend_schema(
        request=SiteEventInputSerializer,
        responses={
            201: SiteEventRecordedSerializer,
            200: OpenApiResponse(
                SiteEventRecordedSerializer,
                description="A resubmission with a client_id already used: the first event.",
            ),
            400: field_errors(
                intervention_site={
                    "site": [
                        "OSLA is an intervention site on that date: only a control site can "
                        "be exposed."
                    ]
                }
            ),
        },
        summary="Record a site-level event",
    )
    def post(self, request: AuthenticatedRequest, code: str) -> Response:
        trial = self.get_trial()
        serializer = SiteEventInputSerializer(
            data=request.data,
            sites=trial.sites.all(),
            components=Component.objects.filter(trial=trial),
        )
        serializer.is_valid(raise_exception=True)
        with service_errors():
            exposures, created = contamination.record_site_event(
                trial,
                actor=request.user,
                **serializer.validated_data,
            )
        event = {
            "site": exposures[0].site.code,  # type: ignore[union-attr]  # site events have a site
            "occurred_on": exposures[0].exposed_on,
            "note": exposures[0].note,
            "exposures": exposures,
        }
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(SiteEventRecordedSerializer(event).data, status=code)


class SiteEventRemoval(TrialScopedMixin, generics.GenericAPIView[Exposure]):
    """Remove a site-level event entered in error, with the reason; the audit trail keeps the
    entry. To correct one, remove it and record the right one."""

    trial_perm = Perm.CONFIGURE_TRIAL
    serializer_class = SiteEventRemovalSerializer

    @extend_schema(
        request=SiteEventRemovalSerializer,
        responses={204: None, 400: field_errors()},
        summary="Remove a site-level event entered in error",
    )
    def post(self, request: AuthenticatedRequest, code: str, exposure_id: int) -> Response:
        trial = self.get_trial()
        event = get_object_or_404(
            Exposure, pk=exposure_id, trial=trial, source=Exposure.Source.SITE_EVENT
        )
        serializer = SiteEventRemovalSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with service_errors():
            contamination.remove_site_event(
                event,
                reason=serializer.validated_data["reason"],
                whole_event=serializer.validated_data["whole_event"],
                actor=request.user,
            )
        return Response(status=status.HTTP_204_NO_CONTENT)


class AdaptationScopedMixin(TrialScopedMixin):
    """Adaptations are read by those who may see allocations (they describe the intervention's
    delivery, so in a cluster trial they name the intervention sites) and written by
    coordinators (the configure-trial right). Site-scoped members see their sites' and the
    trial-wide ones."""

    trial_perm = Perm.VIEW_ALLOCATION
    write_perm = Perm.CONFIGURE_TRIAL

    def visible_adaptations(self) -> QuerySet[Adaptation]:
        trial = self.get_trial()
        sites = permissions.visible_sites(self.request.user, trial)
        return (
            Adaptation.objects.filter(trial=trial)
            .filter(Q(site__isnull=True) | Q(site__in=sites))
            .select_related("site", "component")
            .order_by("-adapted_on", "-id")
        )

    def input(
        self, request: Request, kind: type[AdaptationInputSerializer] = AdaptationInputSerializer
    ) -> AdaptationInputSerializer:
        trial = self.get_trial()
        serializer = kind(
            data=request.data,
            sites=trial.sites.all(),
            components=Component.objects.filter(trial=trial),
        )
        serializer.is_valid(raise_exception=True)
        return serializer


class AdaptationList(AdaptationScopedMixin, generics.ListAPIView[Adaptation]):
    """Adaptations of the intervention noted by coordinators, newest first; POST notes one."""

    serializer_class = AdaptationSerializer

    def get_queryset(self) -> QuerySet[Adaptation]:
        return self.visible_adaptations()

    @extend_schema(
        request=AdaptationCreateSerializer,
        responses={
            201: AdaptationSerializer,
            200: OpenApiResponse(
                AdaptationSerializer,
                description="A resubmission with a client_id already used: the first adaptation.",
            ),
            400: field_errors(future_date={"adapted_on": ["The date cannot be in the future."]}),
        },
        summary="Note an adaptation",
    )
    def post(self, request: AuthenticatedRequest, code: str) -> Response:
        trial = self.get_trial()
        serializer = self.input(request, AdaptationCreateSerializer)
        with service_errors():
            adaptation, created = adaptations.record_adaptation(
                trial,
                actor=request.user,
                **serializer.validated_data,
            )
        location = reverse("v1:adaptation-detail", args=[trial.code, adaptation.pk])
        return Response(
            AdaptationSerializer(adaptation).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
            headers={"Location": location},
        )


class AdaptationDetail(AdaptationScopedMixin, generics.RetrieveAPIView[Adaptation]):
    """One adaptation; PUT corrects it (coordinators; audited with before and after)."""

    serializer_class = AdaptationSerializer

    def get_object(self) -> Adaptation:
        return get_object_or_404(self.visible_adaptations(), pk=self.kwargs["adaptation_id"])

    @extend_schema(
        request=AdaptationInputSerializer,
        responses={200: AdaptationSerializer, 400: field_errors()},
        summary="Correct an adaptation",
    )
    def put(self, request: AuthenticatedRequest, code: str, adaptation_id: int) -> Response:
        adaptation = self.get_object()
        serializer = self.input(request)
        with service_errors():
            adaptations.edit_adaptation(
                adaptation,
                actor=request.user,
                **serializer.validated_data,
            )
        return Response(AdaptationSerializer(self.get_object()).data)
