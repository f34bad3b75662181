"""REST API for defining a trial's instruments (``Perm.DEFINE_INSTRUMENTS``).

``/trials/<code>/instruments/`` lists and creates; ``…/<instrument>/`` reads, revises (PUT,
PATCH: the version rule of ``services.revise_instrument`` applies and the answer says which
version the change went to) and removes one without answers; ``…/<instrument>/visits/`` sets
the visits that ask it. A definition at fault is a 400 whose errors follow the definition's
shape, by position: ``{"definition": {"items": {"2": {"choices": ["…"]}}}}`` (docs/api.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db.models import Count
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from instruments.models import Instrument, VisitInstrument
from instruments.setup import services
from instruments.setup.serializers import (
    InstrumentCreateSerializer,
    InstrumentDetailSerializer,
    InstrumentRevisionSerializer,
    InstrumentSerializer,
    InstrumentUpdateSerializer,
    VisitsSerializer,
)
from instruments.setup.services import InstrumentError
from trial.api import TrialScopedMixin, field_errors, service_errors
from trial.permissions import AuthenticatedRequest, Perm

WHERE = re.compile(r"^(?P<part>\w+)\[(?P<index>\d+)\](?:\.(?P<key>\w+))?$")

EXAMPLE_DEFINITION = {
    "items": [
        {
            "name": "in_school",
            "type": "yesno",
            "label": {"en": "In school or education", "nb": "I skole eller utdanning"},
            "required": True,
        },
        {
            "name": "school_hours",
            "type": "decimal",
            "label": {"en": "Hours a week at school", "nb": "Timer i uka på skolen"},
            "min": "0",
            "max": "60",
            "decimals": 1,
            "unit": "hours",
            "show_if": "[in_school] = '1'",
        },
        {
            "name": "mood",
            "type": "choice",
            "label": {"en": "Mood last week", "nb": "Humør siste uke"},
            "choices": [
                {"code": "1", "label": {"en": "Low", "nb": "Lavt"}},
                {"code": "2", "label": {"en": "Fair", "nb": "Middels"}},
                {"code": "3", "label": {"en": "Good", "nb": "Godt"}},
            ],
        },
    ],
    "scales": [
        {
            "name": "mood_score",
            "label": {"en": "Mood score", "nb": "Humørskår"},
            "items": ["mood"],
            "method": "sum",
        }
    ],
    "missing_codes": [
        {"code": "refused", "label": {"en": "Refused to answer", "nb": "Vil ikke svare"}}
    ],
}

DEFINITION_FAULTS = {
    "definition": {
        "items": {
            "1": {"show_if": ["The condition refers to in_work, which is not an earlier item."]},
            "2": {"choices": ["List the choices, one code and label each."]},
        }
    }
}


def nest_errors(errors: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Definition faults (``items[2].choices``, message) in the shape DRF gives faults of
    nested input: ``{"items": {"2": {"choices": [message]}}}``, by the item's position (from
    0), so a fault found by the schema's checks and one found by the definition's rules look
    alike."""
    nested: dict[str, Any] = {}
    for where, message in errors:
        match = WHERE.match(where)
        if match is None:
            nested.setdefault(where, []).append(message)
            continue
        rows = nested.setdefault(match["part"], {})
        key = match["key"] or api_settings.NON_FIELD_ERRORS_KEY
        rows.setdefault(match["index"], {}).setdefault(key, []).append(message)
    return nested


@contextmanager
def instrument_errors(fields: Iterable[str] = ()) -> Iterator[None]:
    """An InstrumentError as a 400: definition faults nested under ``definition``; a rule of
    one field (``code``, ``visits``) under that field; anything else ``non_field_errors``.
    Any other refusal as ``trial.api.service_errors`` turns it into one."""
    allowed = set(fields)
    with service_errors():
        try:
            yield
        except InstrumentError as error:
            if error.errors:
                nested = {"definition": nest_errors(error.errors)}
                raise serializers.ValidationError(nested) from None
            field = error.field if error.field in allowed else api_settings.NON_FIELD_ERRORS_KEY
            raise serializers.ValidationError({field: [error.message]}) from None


def summary(instrument: Instrument) -> dict[str, Any]:
    """An instrument as :class:`InstrumentSerializer` shows it (read with ``for_listing()``)."""
    versions = list(instrument.versions.all())
    current = versions[-1]
    return {
        "code": instrument.code,
        "name_en": instrument.name_en,
        "name_nb": instrument.name_nb,
        "builtin": instrument.builtin,
        "version": current.number,
        "item_count": len(current.parsed.items),
        "scale_count": len(current.parsed.scales),
        "visits": [link.visit_definition.code for link in instrument.visit_links.all()],
        "answer_count": instrument.answer_count,  # type: ignore[attr-defined]  # annotated
    }


def detail(instrument: Instrument) -> dict[str, Any]:
    """An instrument as :class:`InstrumentDetailSerializer` shows it (read afresh)."""
    found = Instrument.objects.for_listing().get(pk=instrument.pk)
    row = summary(found)
    versions = list(
        found.versions.select_related("created_by")
        .annotate(n_answers=Count("assessments"))
        .order_by("number")
    )
    current = versions[-1]
    row.update(
        {
            "current_version_answered": current.n_answers > 0,
            "definition": current.definition,
            "versions": versions,
        }
    )
    return row


class InstrumentScopedMixin(TrialScopedMixin):
    trial_perm = Perm.DEFINE_INSTRUMENTS

    def get_instrument(self) -> Instrument:
        return get_object_or_404(
            Instrument.objects.select_related("trial"),
            trial=self.get_trial(),
            code=self.kwargs["instrument"],
        )


class InstrumentList(InstrumentScopedMixin, APIView):
    @extend_schema(
        responses=InstrumentSerializer(many=True),
        summary="The trial's instruments",
        description="Coordinators and data managers. Not paged (a trial has a few).",
    )
    def get(self, request: AuthenticatedRequest, code: str) -> Response:
        instruments = Instrument.objects.for_listing().filter(trial=self.get_trial())
        return Response(InstrumentSerializer([summary(i) for i in instruments], many=True).data)

    @extend_schema(
        request=InstrumentCreateSerializer,
        responses={
            201: InstrumentDetailSerializer,
            400: field_errors(
                code_in_use={"code": ["The trial has an instrument with this code."]},
                definition_at_fault=DEFINITION_FAULTS,
            ),
        },
        examples=[
            OpenApiExample(
                "An instrument with branching and a scale",
                value={
                    "code": "school",
                    "name_en": "School and mood",
                    "name_nb": "Skole og humør",
                    "definition": EXAMPLE_DEFINITION,
                },
                request_only=True,
            )
        ],
        summary="Define an instrument (its version 1)",
        description="Variable names are unique across the trial's instruments. Faults of the "
        "definition are listed in its shape, one object per item or scale.",
    )
    def post(self, request: AuthenticatedRequest, code: str) -> Response:
        trial = self.get_trial()
        serializer = InstrumentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        with instrument_errors(fields=("code", "definition")):
            instrument = services.create_instrument(
                trial,
                code=data["code"],
                name_en=data["name_en"],
                name_nb=data["name_nb"],
                definition=data["definition"],
                note=data["note"],
                actor=request.user,
            )
        location = reverse("v1:instrument-detail", args=[trial.code, instrument.code])
        return Response(
            InstrumentDetailSerializer(detail(instrument)).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": location},
        )


REVISION = {
    "responses": {
        200: InstrumentRevisionSerializer,
        400: field_errors(definition_at_fault=DEFINITION_FAULTS),
    },
}


class InstrumentDetail(InstrumentScopedMixin, APIView):
    @extend_schema(
        responses=InstrumentDetailSerializer,
        summary="An instrument: its current definition and its versions",
    )
    def get(self, request: AuthenticatedRequest, code: str, instrument: str) -> Response:
        return Response(InstrumentDetailSerializer(detail(self.get_instrument())).data)

    @extend_schema(
        request=InstrumentUpdateSerializer,
        **REVISION,  # type: ignore[arg-type]  # keyword arguments of extend_schema
        summary="Replace an instrument's definition",
        description="While the current version has no answers it is changed in place "
        '("change": "revised"); once answers refer to it the change is saved as a new version '
        '("versioned"), and every answer keeps the version it was entered under.',
    )
    def put(self, request: AuthenticatedRequest, code: str, instrument: str) -> Response:
        return self._revise(request, partial=False)

    @extend_schema(
        request=InstrumentUpdateSerializer(partial=True),
        **REVISION,  # type: ignore[arg-type]  # keyword arguments of extend_schema
        summary="Change an instrument's names, or its definition",
        description="As PUT; the definition may be left out to change only the names.",
    )
    def patch(self, request: AuthenticatedRequest, code: str, instrument: str) -> Response:
        return self._revise(request, partial=True)

    def _revise(self, request: AuthenticatedRequest, *, partial: bool) -> Response:
        found = self.get_instrument()
        serializer = InstrumentUpdateSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        before = found.current_version()
        definition = data.get("definition", before.definition)
        with instrument_errors(fields=("definition",)):
            after = services.revise_instrument(
                found,
                definition=definition,
                actor=request.user,
                note=data.get("note", ""),
                name_en=data.get("name_en"),
                name_nb=data.get("name_nb"),
            )
        if after.number != before.number:
            change = "versioned"
        elif after.definition != before.definition:
            change = "revised"
        else:
            change = "unchanged"
        body = {**detail(found), "change": change}
        return Response(InstrumentRevisionSerializer(body).data)

    @extend_schema(
        request=None,
        responses={
            204: None,
            400: field_errors(
                answered={"non_field_errors": ["The instrument has answers: it cannot be removed."]}
            ),
        },
        summary="Remove an instrument that has no answers",
    )
    def delete(self, request: AuthenticatedRequest, code: str, instrument: str) -> Response:
        found = self.get_instrument()
        with instrument_errors():
            services.remove_instrument(found, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InstrumentVisits(InstrumentScopedMixin, APIView):
    @extend_schema(responses=VisitsSerializer, summary="The visits that ask an instrument")
    def get(self, request: AuthenticatedRequest, code: str, instrument: str) -> Response:
        return Response(VisitsSerializer({"visits": self._codes(self.get_instrument())}).data)

    @extend_schema(
        request=VisitsSerializer,
        responses={
            200: VisitsSerializer,
            400: field_errors(
                unknown_visit={"visits": ["The trial has no visit m24."]},
                answered={
                    "visits": ["Answers exist at 6 months: the instrument stays attached there."]
                },
            ),
        },
        examples=[
            OpenApiExample("Baseline and 6 months", value={"visits": ["m0", "m6"]}),
        ],
        summary="Ask an instrument at exactly these visits",
    )
    def put(self, request: AuthenticatedRequest, code: str, instrument: str) -> Response:
        found = self.get_instrument()
        serializer = VisitsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        wanted = list(dict.fromkeys(serializer.validated_data["visits"]))
        by_code = {v.code: v for v in found.trial.visit_definitions.filter(code__in=wanted)}
        unknown = [c for c in wanted if c not in by_code]
        if unknown:
            raise serializers.ValidationError(
                {
                    "visits": [
                        _("The trial has no visit %(code)s.") % {"code": visit} for visit in unknown
                    ]
                }
            )
        with instrument_errors(fields=("visits",)):
            services.attach_instrument(found, by_code.values(), actor=request.user)
        return Response(VisitsSerializer({"visits": self._codes(found)}).data)

    @staticmethod
    def _codes(instrument: Instrument) -> list[str]:
        return list(
            VisitInstrument.objects.filter(instrument=instrument)
            .order_by("visit_definition__offset_months")
            .values_list("visit_definition__code", flat=True)
        )
