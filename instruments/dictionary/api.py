"""The data dictionary in the API: GET as JSON (or our CSV with ``?format=csv``), POST a file to
import it (multipart), answered 201 with what changed or 400 with every problem by row and
column."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import SchemaTypedInput, validation_error_body
from instruments.dictionary.files import MAX_FILE_BYTES, OWN, REDCAP
from instruments.dictionary.services import (
    DictionaryError,
    download_dictionary,
    import_dictionary,
)
from instruments.dictionary.variables import Kind, Variable, variables
from instruments.dictionary.views import DEFINE
from trial.api import TrialScopedMixin, service_errors
from trial.permissions import AuthenticatedRequest, Perm


class CSVRenderer(BaseRenderer):
    """Chosen by ``?format=csv`` or ``Accept: text/csv``; the view writes the CSV itself."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        return data.encode() if isinstance(data, str) else b""


class TextSerializer(serializers.Serializer[Any]):
    en = serializers.CharField(allow_blank=True, help_text="English.")
    nb = serializers.CharField(allow_blank=True, help_text="Norwegian bokmål.")


class VariableSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(help_text="The variable's name, unique in the trial.")
    instrument = serializers.CharField(
        help_text="The instrument's code; baseline_covariates for the trial's baseline covariates."
    )
    instrument_name = TextSerializer()
    instrument_version = serializers.IntegerField(
        help_text="The latest version of the instrument that has the variable."
    )
    versions = serializers.ListField(
        child=serializers.IntegerField(), help_text="Every version that has the variable."
    )
    current = serializers.BooleanField(
        help_text="False for a variable only earlier versions of the instrument have."
    )
    label = TextSerializer()  # type: ignore[assignment]  # the variable's label, not Field.label
    type = serializers.CharField(
        help_text="The item type (yesno, integer, decimal, choice, multi, date, text, "
        "occupation) or score."
    )
    kind = serializers.ChoiceField(
        choices=[str(k) for k in Kind], help_text="The default way to analyse it."
    )
    unit = serializers.CharField(allow_blank=True)
    value_labels = serializers.DictField(
        child=TextSerializer(), help_text="Labels by code (yes / no: 1 and 0)."
    )
    missing_codes = serializers.DictField(
        child=TextSerializer(), help_text="The instrument's missing-data codes with labels."
    )
    visits = serializers.ListField(
        child=serializers.CharField(), help_text="Codes of the visits that ask it."
    )


class DictionarySerializer(serializers.Serializer[Any]):
    trial = serializers.CharField()
    variables = VariableSerializer(many=True)


class DictionaryImportSerializer(SchemaTypedInput):
    file = serializers.FileField(help_text="The dictionary file (CSV, UTF-8, at most 1 MB).")
    file_format = serializers.ChoiceField(
        choices=[OWN, REDCAP],
        default=OWN,
        help_text="own: this system's dictionary (docs/import-formats.md); redcap: REDCap's "
        "data dictionary CSV (labels go into both languages).",
    )
    replace = serializers.BooleanField(
        default=False,
        help_text="Remove the trial's instruments that are not in the file (never one with "
        "answers).",
    )


class DictionaryContentSerializer(SchemaTypedInput):
    """The same as JSON: the file's text in ``content``."""

    content = serializers.CharField(
        max_length=MAX_FILE_BYTES,
        trim_whitespace=False,
        help_text="The dictionary file's text (CSV, at most 1 MB).",
    )
    file_format = serializers.ChoiceField(
        choices=[OWN, REDCAP], default=OWN, help_text="own or redcap, as for a file."
    )
    replace = serializers.BooleanField(
        default=False, help_text="Remove the trial's instruments that are not in the file."
    )


class ProblemSerializer(serializers.Serializer[Any]):
    row = serializers.IntegerField(
        allow_null=True, help_text="The row as a spreadsheet numbers it (1 is the header)."
    )
    column = serializers.CharField(allow_blank=True)
    message = serializers.CharField()


class ChangeSerializer(serializers.Serializer[Any]):
    code = serializers.CharField()
    name_en = serializers.CharField(allow_blank=True)
    name_nb = serializers.CharField(allow_blank=True)
    action = serializers.ChoiceField(
        choices=["created", "changed", "new_version", "unchanged", "removed"]
    )
    version = serializers.IntegerField()
    variables = serializers.IntegerField()
    added = serializers.ListField(child=serializers.CharField())
    removed = serializers.ListField(child=serializers.CharField())
    changed = serializers.ListField(child=serializers.CharField())
    visits = serializers.ListField(child=serializers.CharField(), allow_null=True)


class ImportResultSerializer(serializers.Serializer[Any]):
    file_format = serializers.ChoiceField(choices=[OWN, REDCAP])
    applied = serializers.BooleanField()
    instruments = ChangeSerializer(many=True)
    warnings = ProblemSerializer(many=True)


def _text(text: Any) -> dict[str, str]:
    return {"en": text.en, "nb": text.nb}


def variable_json(variable: Variable) -> dict[str, Any]:
    return {
        "name": variable.name,
        "instrument": variable.instrument_code,
        "instrument_name": _text(variable.instrument_name),
        "instrument_version": variable.instrument_version,
        "versions": list(variable.versions),
        "current": variable.current,
        "label": _text(variable.label),
        "type": variable.item_type,
        "kind": str(variable.kind),
        "unit": variable.unit,
        "value_labels": {code: _text(t) for code, t in variable.value_labels.items()},
        "missing_codes": {code: _text(t) for code, t in variable.missing_codes.items()},
        "visits": list(variable.visits),
    }


def problems_body(error: DictionaryError, field: str) -> dict[str, Any]:
    """The 400 body: the API's error body with the file's problems as the messages of
    ``field``, plus ``rows`` (each problem's row, column and message) and ``warnings``."""
    body = validation_error_body({field: [str(p) for p in error.problems]})
    body["rows"] = [p.to_json() for p in error.problems]
    body["warnings"] = [p.to_json() for p in error.warnings]
    return body


class DictionaryView(TrialScopedMixin, APIView):
    """The trial's data dictionary; POST imports a dictionary file (multipart, or JSON with
    the file's text)."""

    trial_perm = Perm.VIEW_TRIAL
    write_perm = DEFINE
    renderer_classes = [JSONRenderer, CSVRenderer]
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        # Errors and the import's answer are JSON even when CSV was asked for.
        renderer = getattr(request, "accepted_renderer", None)
        if isinstance(response, Response) and isinstance(renderer, CSVRenderer):
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    @extend_schema(
        summary="The trial's data dictionary",
        description="Every variable of the trial's instruments (items and scale scores) and "
        "its baseline covariates, with labels in both languages, type, kind (the default "
        "analysis), value labels, visits and versions. With ?format=csv (or Accept: text/csv) "
        "the dictionary file described in docs/import-formats.md, which POST reads back.",
        parameters=[
            OpenApiParameter(
                "format",
                OpenApiTypes.STR,
                enum=["json", "csv"],
                description="csv: the dictionary file instead of JSON.",
            )
        ],
        responses={
            (200, "application/json"): DictionarySerializer,
            (200, "text/csv"): OpenApiTypes.STR,
        },
    )
    def get(self, request: AuthenticatedRequest, code: str) -> Response | HttpResponse:
        trial = self.get_trial()
        if isinstance(request.accepted_renderer, CSVRenderer):
            dictionary = download_dictionary(trial, actor=request.user, via="api")
            response = HttpResponse(dictionary.content, content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="{dictionary.name}"'
            return response
        data = {"trial": trial.code, "variables": [variable_json(v) for v in variables(trial)]}
        return Response(DictionarySerializer(data).data)

    @extend_schema(
        summary="Import a data dictionary file",
        description="Creates the file's instruments, or revises those with the same code (a "
        "new version when the latest has answers); all or nothing. A 400 lists every problem "
        'in "rows" ({"row", "column", "message"}; row 1 is the header, null for the file as a '
        'whole) and, as messages, in errors.file; "warnings" lists what is left out without '
        "blocking (descriptive REDCap fields, say). Needs the right to configure the trial.",
        request={
            "multipart/form-data": DictionaryImportSerializer,
            "application/json": DictionaryContentSerializer,
        },
        parameters=[OpenApiParameter("format", exclude=True)],
        responses={
            (201, "application/json"): ImportResultSerializer,
            (400, "application/json"): OpenApiResponse(
                description="Refused: nothing was imported. Besides errors (the problems as "
                'messages of "file", or "content" for JSON), "rows" lists every problem as '
                '{"row": 5, "column": "Field Type", "message": "Calculated fields are not '
                'supported; define a scale instead."} and "warnings" what would be left out.'
            ),
        },
    )
    def post(self, request: AuthenticatedRequest, code: str) -> Response:
        trial = self.get_trial()
        if request.content_type.startswith("multipart/"):
            upload = DictionaryImportSerializer(data=request.data)
            upload.is_valid(raise_exception=True)
            field, options = "file", upload.validated_data
            content: bytes | str = options["file"].read(MAX_FILE_BYTES + 1)
        else:
            body = DictionaryContentSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            field, options = "content", body.validated_data
            content = options["content"]
        with service_errors():
            try:
                result = import_dictionary(
                    trial,
                    content,
                    format=options["file_format"],
                    actor=request.user,
                    replace=options["replace"],
                )
            except DictionaryError as error:
                return Response(problems_body(error, field), status=status.HTTP_400_BAD_REQUEST)
        return Response(
            ImportResultSerializer(result.to_json()).data, status=status.HTTP_201_CREATED
        )
