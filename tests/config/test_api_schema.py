"""The OpenAPI schema: valid, free of drf-spectacular warnings, and complete.

Complete means every URL of /api/v1/ is in it, every operation has typed request and response
bodies, and every error an operation can give is documented with the one error body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver

METHODS = {"get", "post", "put", "patch", "delete"}
NOT_IN_SCHEMA = {"/api/v1/schema/", "/api/v1/docs/"}


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The schema as ``manage.py spectacular --validate --fail-on-warn`` writes it (the command
    raises on any warning or an invalid schema)."""
    path = tmp_path_factory.mktemp("schema") / "schema.json"
    call_command(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--format",
        "openapi-json",
        "--file",
        str(path),
    )
    return json.loads(Path(path).read_text())


def operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def api_routes(patterns: list[Any], prefix: str = "/") -> Iterator[str]:
    """Every route under /api/v1/, with its parameters written as ``{}``."""
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from api_routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern) and route.startswith("/api/v1/"):
            yield re.sub(r"<[^>]+>", "{}", route)


def test_every_api_url_is_in_the_schema(schema: dict[str, Any]) -> None:
    documented = {re.sub(r"\{[^}]+\}", "{}", path) for path in schema["paths"]}
    routes = set(api_routes(get_resolver().url_patterns)) - NOT_IN_SCHEMA
    assert routes == documented


def test_every_operation_has_typed_bodies(schema: dict[str, Any]) -> None:
    for path, method, operation in operations(schema):
        where = f"{method.upper()} {path}"
        successes = {s: r for s, r in operation["responses"].items() if s.startswith("2")}
        assert successes, where
        for status, response in successes.items():
            if status == "204":
                assert "content" not in response, where
                continue
            for media_type, content in response["content"].items():
                body = content["schema"]
                if media_type == "application/json":
                    assert body.get("$ref") or body.get("type") in {"object", "array"}, where
                else:  # a document, such as the CONSORT diagram in SVG
                    assert body["type"] == "string", where
        if method in {"post", "put", "patch"} and "requestBody" in operation:
            assert "application/json" in operation["requestBody"]["content"], where


def test_every_operation_documents_its_errors_with_the_one_error_body(
    schema: dict[str, Any],
) -> None:
    components = schema["components"]["schemas"]
    assert set(components["Error"]["required"]) == {"detail", "code"}
    assert set(components["ValidationError"]["required"]) == {"detail", "code", "errors"}
    for path, method, operation in operations(schema):
        where = f"{method.upper()} {path}"
        responses = operation["responses"]
        parameters = operation.get("parameters", [])
        if path == "/api/v1/surveys/bounces/":  # no user: the provider's shared secret
            assert {"403", "404"} <= set(responses), where
        elif path != "/api/v1/auth/token/":
            assert {"401", "403"} <= set(responses), where
        if "{" in path or any(p["name"] == "page" for p in parameters):
            assert "404" in responses, where
        if "requestBody" in operation:
            assert {"400", "415"} <= set(responses), where
        for status, response in responses.items():
            if status[0] in "45":
                body = response["content"]["application/json"]["schema"]["$ref"]
                name = "ValidationError" if status == "400" else "Error"
                assert body == f"#/components/schemas/{name}", where


def test_documented_400_examples_have_the_error_body(schema: dict[str, Any]) -> None:
    examples = [
        example["value"]
        for _path, _method, operation in operations(schema)
        for example in operation["responses"]
        .get("400", {})
        .get("content", {})
        .get("application/json", {})
        .get("examples", {})
        .values()
    ]
    assert len(examples) > 10
    for example in examples:
        assert set(example) == {"detail", "code", "errors"}
        assert example["code"] == "invalid"


def test_paginated_lists_document_their_page_parameter(schema: dict[str, Any]) -> None:
    paginated = 0
    for path, method, operation in operations(schema):
        body = operation["responses"].get("200", {}).get("content", {}).get("application/json")
        if body is None or not body["schema"].get("$ref", "").startswith(
            "#/components/schemas/Paginated"
        ):
            continue
        paginated += 1
        names = {p["name"] for p in operation.get("parameters", [])}
        assert "page" in names, f"{method.upper()} {path}"
    assert paginated >= 10


def test_decimal_patterns_admit_numbers_only() -> None:
    """drf-spectacular's decimal pattern also matched "", "-" and ".", which the server refuses
    as no number (the fuzzing sent "hours_per_week": "." as valid input)."""
    from rest_framework import serializers

    from config.api import AutoSchema

    hours = serializers.DecimalField(max_digits=4, decimal_places=1)
    pattern = AutoSchema()._map_serializer_field(hours, "request")["pattern"]
    for number in ("0", "37", "37.5", "-1", ".5", "40."):
        assert re.fullmatch(pattern.strip("^$"), number), number
    for no_number in ("", "-", ".", "-.", "1234", "1.25"):
        assert not re.fullmatch(pattern.strip("^$"), no_number), no_number


def api_views(patterns: list[Any], prefix: str = "/") -> Iterator[type]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from api_views(pattern.url_patterns, route)
        elif route.startswith("/api/v1/") and hasattr(pattern.callback, "cls"):
            yield pattern.callback.cls


def test_no_operation_is_described_by_a_base_class_it_shares_with_others(
    schema: dict[str, Any],
) -> None:
    """The schema describes an operation by the first docstring among its view's classes: a
    docstring on a base the project's views share would describe every view that has none
    (it once described fifteen operations with the trial-scoping mixin's)."""
    bases: dict[type, set[type]] = {}
    for view in api_views(get_resolver().url_patterns):
        for base in view.__mro__[1:]:
            if base.__module__.split(".")[0] not in {"rest_framework", "django", "builtins"}:
                bases.setdefault(base, set()).add(view)
    shared = {base for base, views in bases.items() if len(views) > 1}
    assert len(shared) >= 2  # TrialScopedMixin and the participant-recording base at least
    described = {operation.get("description", "") for _p, _m, operation in operations(schema)}
    for base in shared:
        doc = base.__dict__.get("__doc__")
        assert not doc, f"{base.__qualname__} has a docstring; write it as a comment"
    assert all("URL argument through the permission layer" not in d for d in described)
