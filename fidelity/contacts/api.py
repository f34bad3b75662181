"""REST API for the contact log.

The views follow ``trial.api``: the trial is resolved through ``trial.permissions`` (outsiders
404, members without the capability 403), a serializer checks the input's shape, one service in
``fidelity.contacts.services`` applies the rules, and its refusal becomes a 400 with field
errors (``service_errors``).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db.models import QuerySet
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
from rest_framework.response import Response
from rest_framework.settings import api_settings

from fidelity.contacts import services
from fidelity.contacts.serializers import (
    ContactBatchResponseSerializer,
    ContactBatchSerializer,
    ContactEditSerializer,
    ContactFilterSerializer,
    ContactInputSerializer,
    ContactSerializer,
)
from fidelity.models import Component, Contact
from trial import permissions
from trial.api import TrialScopedMixin, field_errors, query_filters, service_errors
from trial.models import Participant, Trial
from trial.permissions import AuthenticatedRequest, Perm

# The contact list's query parameters (ContactFilterSerializer) and what each filters on.
LIST_FILTERS = {
    "site": "site__code",
    "participant": "participant__study_id",
    "contact_from": "contact_on__gte",
    "contact_to": "contact_on__lte",
}
LOCKED = OpenApiResponse(
    description="Not the contact's author, or its edit window has closed; the body's detail "
    "says which."
)


class ContactScopedMixin(TrialScopedMixin):
    def visible_contacts(self) -> QuerySet[Contact]:
        """Contacts at the user's sites (a participant's contact is at the participant's site).

        The components delivered (and how often a participant is seen) tell the arm, so reading
        contacts needs the right to see allocations too: blinded statisticians get 403, as on
        the pages, which show contacts only to those who may see the arm.
        """
        trial = self.get_trial()
        permissions.require(self.request.user, trial, Perm.VIEW_ALLOCATION)
        return Contact.objects.visible_to(self.request.user, trial).for_listing()


@extend_schema_view(get=extend_schema(parameters=[ContactFilterSerializer]))
class ContactList(ContactScopedMixin, generics.ListAPIView[Contact]):
    """The contact log of the user's sites; POST logs a contact (needs the log-contact right)."""

    serializer_class = ContactSerializer
    trial_perm = Perm.VIEW_PARTICIPANTS
    write_perm = Perm.LOG_CONTACT

    def get_queryset(self) -> QuerySet[Contact]:
        filters = query_filters(ContactFilterSerializer, self.request)
        lookups = {LIST_FILTERS[name]: value for name, value in filters.items()}
        return self.visible_contacts().filter(**lookups).order_by("-contact_on", "-id")

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
        entries, errors = _batch_entries(trial, user, batch.validated_data["contacts"])
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


def _batch_entries(
    trial: Trial, user: User, items: list[dict[str, Any]]
) -> tuple[list[services.ContactEntry], dict[int, dict[str, list[str]]]]:
    """The batch's items as the service's entries, with the study ids, site codes and
    component codes that name nothing the user may log for, by position."""
    sites = {s.code: s for s in permissions.visible_sites(user, trial)}
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
    return entries, errors


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
