"""The API's error contract: one body for every error, and the schema that documents it.

Every error of ``/api/`` has a body ``{"detail": "...", "code": "..."}``: ``detail`` is a
sentence for people (in the request's language), ``code`` a stable machine-readable word
(``not_authenticated``, ``permission_denied``, ``not_found``, ``throttled`` ...). A 400 adds
``errors``, which maps each field at fault to its messages, ``{"site": ["..."]}``, with
``non_field_errors`` for faults of no single field and nested objects or lists for nested
input (``{"baseline": {"age": ["..."]}}``). docs/api.md shows examples.

:func:`exception_handler` shapes DRF's errors, :func:`page_not_found` and :func:`server_error`
Django's own 404 and 500 inside ``/api/``, and :class:`AutoSchema` adds the error responses
each operation can give to the OpenAPI schema.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from typing import Any

from django.core.validators import ProhibitNullCharactersValidator
from django.db import DataError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults
from drf_spectacular import openapi
from drf_spectacular.plumbing import ComponentRegistry
from rest_framework import exceptions, serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.utils import html
from rest_framework.views import exception_handler as drf_exception_handler

from config.middleware import DATABASE_UNAVAILABLE, database_unavailable
from trial import text

API_PREFIX = "/api/"
# How psycopg refuses a text parameter with a NUL character, which PostgreSQL cannot store.
NUL_REFUSED = "cannot contain NUL (0x00) bytes"


class ErrorSerializer(serializers.Serializer[Any]):
    """The body of every error response."""

    detail = serializers.CharField(help_text="What went wrong, for people.")
    code = serializers.CharField(
        help_text="What went wrong, for programs: invalid, parse_error, not_authenticated, "
        "authentication_failed, permission_denied, not_found, method_not_allowed, "
        "unsupported_media_type, throttled, error ..."
    )


class ValidationErrorSerializer(ErrorSerializer):
    """The body of a 400: the error, and the messages of each field at fault."""

    errors = serializers.DictField(  # type: ignore[assignment]  # a declared field
        child=serializers.JSONField(),
        help_text='Messages by field, {"field": ["message"]}; "non_field_errors" for faults of '
        'no single field; nested input has nested errors, {"baseline": {"age": ["..."]}} or '
        "one object per list item. Empty when the body could not be parsed at all.",
    )


def validation_error_body(errors: Any) -> dict[str, Any]:
    """The 400 body for ``errors`` (a ValidationError's detail, or plain strings in its shape)."""
    if not isinstance(errors, dict):
        errors = {api_settings.NON_FIELD_ERRORS_KEY: errors}
    errors = _plain(errors)
    messages = list(_messages(errors))
    if messages:
        where, message = messages[0]
        detail = f"{where}: {message}" if where else message
    else:
        detail = str(exceptions.ValidationError.default_detail)
    return {"detail": detail, "code": "invalid", "errors": errors}


def _plain(value: Any) -> Any:
    """ErrorDetail strings as plain strings, keeping dicts and lists."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return str(value)


def _messages(errors: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(field path, message) pairs, depth first; a level's non-field errors come first."""
    if isinstance(errors, dict):
        items = sorted(errors.items(), key=lambda kv: kv[0] != api_settings.NON_FIELD_ERRORS_KEY)
        for key, value in items:
            inner = path if key == api_settings.NON_FIELD_ERRORS_KEY else _join(path, key)
            yield from _messages(value, inner)
    elif isinstance(errors, list):
        for index, value in enumerate(errors):
            yield from _messages(value, path if isinstance(value, str) else _join(path, index))
    else:
        yield path, str(errors)


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


# The JSON types the schema gives DRF's fields; DRF itself reads them leniently (a CharField
# takes 0 as "0", a BooleanField 0 or 1, an IntegerField "5", a UUIDField an integer).
JSON_TYPES: list[tuple[type[serializers.Field[Any, Any, Any, Any]], tuple[type, ...]]] = [
    (serializers.BooleanField, (bool,)),
    (serializers.IntegerField, (int,)),
    (serializers.FloatField, (int, float)),
    (serializers.CharField, (str,)),
    (serializers.UUIDField, (str,)),
]


class SchemaTypedInput(serializers.Serializer[Any]):
    """Input read as the schema states it (a mixin for the serializers of request bodies).

    A JSON value of another type than the schema's is refused, naming the field, instead of
    being converted (``"description": 0``, ``"declined": 0``). In a form body, where DRF reads a
    field sent empty as not sent, an empty value of a field that may not be blank is refused as
    the JSON ``""`` would be (an empty ``contact_on`` in a PATCH changed nothing). Nested objects
    and lists are checked the same way.
    """

    def to_internal_value(self, data: Any) -> Any:
        errors = input_type_errors(self, data)
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as refused:
            if errors and isinstance(refused.detail, dict):
                raise serializers.ValidationError({**refused.detail, **errors}) from None
            raise
        except DataError:
            # A value PostgreSQL refuses (a NUL in a code) reached a lookup: the check above
            # has named the field already.
            if errors:
                raise serializers.ValidationError(errors) from None
            raise
        if errors:
            raise serializers.ValidationError(errors)
        return value


def input_type_errors(serializer: serializers.Serializer[Any], data: Any) -> dict[str, Any]:
    """``{field: [message]}`` for the values of ``data`` that the schema's types refuse."""
    if not isinstance(data, Mapping):
        return {}
    form = html.is_html_input(data)
    errors: dict[str, Any] = {}
    for name, field in serializer.fields.items():
        if field.read_only or name not in data:
            continue
        if form:
            if (
                data[name] == ""
                and not field.allow_null
                and not getattr(field, "allow_blank", False)
            ):
                try:
                    field.run_validation("")
                except serializers.ValidationError as refused:
                    errors[name] = refused.detail
            continue
        error = _type_error(field, data[name])
        if error:
            errors[name] = error
    return errors


def _type_error(field: serializers.Field[Any, Any, Any, Any], value: Any) -> Any:
    if value is None:
        return None  # the field says whether it may be null
    if isinstance(value, str) and (character := text.unstorable_character(value)):
        # Refused here for every backend (PostgreSQL cannot store it; SQLite would look a code
        # with it up and say only that it does not exist), as a query parameter is.
        message = _("Contains a character that is not allowed: %(character)s.")
        return [message % {"character": character}]
    if value == "" and isinstance(field, serializers.RelatedField):
        # DRF reads "" as null for a relation; the schema says a code is not blank.
        return [str(serializers.CharField.default_error_messages["blank"])]
    if isinstance(field, serializers.Serializer):
        return input_type_errors(field, value) or None
    if isinstance(field, serializers.ListSerializer | serializers.ListField):
        if not isinstance(value, list):
            return None
        items = [_type_error(field.child, item) for item in value]  # type: ignore[arg-type]
        if not any(items):
            return None
        if isinstance(field, serializers.ListSerializer):  # one object per item, as DRF's
            return [error or {} for error in items]
        return {str(i): error for i, error in enumerate(items) if error}
    for kind, types in JSON_TYPES:
        if isinstance(field, kind):
            if isinstance(value, types) and not (bool not in types and isinstance(value, bool)):
                return None
            return [str(field.error_messages["invalid"])]
    return None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, with the one error body (see the module docstring).

    Headers stay as DRF sets them (``WWW-Authenticate`` on a 401, ``Retry-After`` on a 429).
    An exception DRF does not handle returns None and becomes Django's 500 (:func:`server_error`).
    """
    if isinstance(exc, Http404):
        # get_object_or_404 names the model; an outsider learns nothing beyond "Not found".
        exc = exceptions.NotFound()
    elif isinstance(exc, DataError) and NUL_REFUSED in str(exc):
        # A NUL character in a code, filter or path that reached a query: psycopg refuses it
        # before sending anything, so the transaction is intact and the fault is the input's.
        exc = exceptions.ValidationError(
            {api_settings.NON_FIELD_ERRORS_KEY: [ProhibitNullCharactersValidator.message]}
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = validation_error_body(exc.detail)
        return response
    detail = response.data.get("detail") if isinstance(response.data, dict) else None
    if detail is None and isinstance(exc, exceptions.APIException):
        detail = exceptions.ErrorDetail(exc.default_detail, exc.default_code)  # type: ignore[arg-type]  # a (lazy) str
    code = getattr(detail, "code", None) or "error"
    response.data = {"detail": str(detail), "code": code}
    if response.status_code == 400:
        response.data["errors"] = {}
    return response


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 (no URL matched): the API's error body inside /api/, the page elsewhere."""
    if request.path.startswith(API_PREFIX):
        body = {"detail": str(exceptions.NotFound.default_detail), "code": "not_found"}
        return JsonResponse(body, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's 500 (an unhandled exception): the API's error body inside /api/.

    A database that cannot be reached is not a server error but a moment's unavailability: an
    error of the session or user lookup in a middleware, or of saving the session on the way
    out, gets the same 503 as one in a view (``config.middleware.database_unavailable``).
    """
    if isinstance(sys.exception(), DATABASE_UNAVAILABLE):
        return database_unavailable(request)
    if request.path.startswith(API_PREFIX):
        body = {"detail": str(exceptions.APIException.default_detail), "code": "error"}
        return JsonResponse(body, status=500)
    return defaults.server_error(request)


ERROR_DESCRIPTIONS = {
    "400": "Refused input: errors maps each field at fault to its messages (a NUL or unpaired "
    "surrogate in the URL or a query parameter is refused this way too, naming the parameter).",
    "401": "No credentials, or wrong ones: send the header 'Authorization: Token KEY' with the "
    "user's key (POST /api/v1/auth/token/ gives it).",
    "403": "The user's role in the trial does not allow this.",
    "404": "No such object inside the user's trials and sites (or no such page).",
    "415": "A body in a media type the operation does not accept: send JSON.",
    "429": "Too many requests: wait the seconds in the Retry-After header.",
}
ERROR_EXAMPLES: dict[str, dict[str, Any]] = {
    "400": validation_error_body({"site": ["This field is required."]}),
    "401": {"detail": "Authentication credentials were not provided.", "code": "not_authenticated"},
    "403": {
        "detail": "You do not have permission to perform this action.",
        "code": "permission_denied",
    },
    "404": {"detail": "Not found.", "code": "not_found"},
    "415": {
        "detail": 'Unsupported media type "text/plain" in request.',
        "code": "unsupported_media_type",
    },
    "429": {"detail": "Request was throttled.", "code": "throttled"},
}


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's AutoSchema, plus the error responses each operation can give.

    Every operation gets 400 (refused input; at least a NUL in the URL or a query parameter);
    one that requires a user 401 and 403; one with path parameters or pages 404; one with a
    body 415; a throttled one 429.
    Each uses the Error or ValidationError component; responses a view declares itself keep
    their description and examples and get the component as their schema.
    """

    def get_operation(
        self,
        path: str,
        path_regex: str,
        path_prefix: str,
        method: str,
        registry: ComponentRegistry,
    ) -> dict[str, Any] | None:
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses: dict[str, Any] = operation["responses"]
        for status in self._error_statuses(operation):
            responses.setdefault(status, {"description": ERROR_DESCRIPTIONS[status]})
        for status, response in responses.items():
            if not status.startswith(("4", "5")):
                continue
            serializer = ValidationErrorSerializer if status == "400" else ErrorSerializer
            content = response.setdefault("content", {}).setdefault("application/json", {})
            content["schema"] = self.resolve_serializer(serializer, "response").ref
            if "examples" not in content and status in ERROR_EXAMPLES:
                content["examples"] = {
                    "Error": {"value": ERROR_EXAMPLES[status], "summary": f"A {status} body"}
                }
        return operation

    def _map_serializer_field(
        self,
        field: Any,
        direction: Any,
        bypass_extensions: bool = False,
    ) -> Any:
        """drf-spectacular's mapping, plus the bounds of a list of objects (``many=True`` with
        ``min_length``/``max_length``), which it leaves out."""
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if isinstance(field, serializers.ListSerializer) and isinstance(schema, dict):
            bounds = {"minItems": field.min_length, "maxItems": field.max_length}  # type: ignore[attr-defined]
            schema.update({key: value for key, value in bounds.items() if value is not None})
        if (
            isinstance(field, serializers.DecimalField)
            and isinstance(schema, dict)
            and schema.get("format") == "decimal"
            and "pattern" in schema
            and field.max_whole_digits
            and not field.localize
        ):
            # drf-spectacular's pattern also matches "", "-" and ".", which are no number:
            # at least one digit, before or after the point.
            whole, places = field.max_whole_digits, field.decimal_places
            fraction = rf"|\.\d{{1,{places}}}" if places else ""
            schema["pattern"] = rf"^-?(?:\d{{1,{whole}}}(?:\.\d{{0,{places}}})?{fraction})$"
        return schema

    def _error_statuses(self, operation: dict[str, Any]) -> list[str]:
        parameters = operation.get("parameters", [])
        query = {p["name"] for p in parameters if p["in"] == "query"}
        # Any operation may answer 400: a NUL in the URL or in any query parameter is refused
        # before the view (config.characters), besides the input checks of those with a body
        # or filters.
        statuses = ["400"]
        if self._requires_user():
            statuses += ["401", "403"]
        if "page" in query or any(p["in"] == "path" for p in parameters):
            statuses.append("404")
        if "requestBody" in operation:
            statuses.append("415")
        if self.view.get_throttles():
            statuses.append("429")
        return statuses

    def _requires_user(self) -> bool:
        permissions = self.view.get_permissions()
        return bool(permissions) and not all(isinstance(p, AllowAny) for p in permissions)
