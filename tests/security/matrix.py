"""The machinery of the authorisation matrix (the tests are in ``test_matrix_*.py``).

For each route in ``tests/security/routes.py`` and each HTTP method it accepts, every persona
asks about an object inside their scope, one at a site outside a caseworker's sites, and one of
the other trial through this trial's URL. The expected answer is computed from
``permissions.perms_for`` and the persona's sites: allowed, 403 for a member without the
capability, 404 for anything out of scope. Whoever gets 404 for an out-of-scope object must get
exactly the same answer (status and body) for an id that does not exist; the outsider gets the
same for this trial as for a trial that does not exist. Users who may not see allocations never
receive an arm name, and nobody a study id outside their trial and sites.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any

from django.db import transaction
from django.http import HttpResponseBase
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.conftest import PERSONAS
from tests.security.conftest import ARM_NAMES, MatrixWorld
from tests.security.routes import ADMIN_NAMESPACE, KINDS, Need, Route
from trial import permissions
from trial.permissions import SITE_SCOPED_ROLES, Perm

PERSONA_NAMES = [*PERSONAS, "outsider"]
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# Scopes: where the objects named in the URL are, seen from the ``ips`` trial.
INSIDE, OTHER_SITE, FOREIGN, OTHER_TRIAL, MISSING, NO_TRIAL = (
    "inside",
    "other site",
    "other trial's object",
    "other trial",
    "missing",
    "no such trial",
)


def walk(patterns: list[Any], prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str]]:
    """(URL name with namespaces, route) of every pattern, depth first."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace else str(pattern.name)
            yield name, prefix + str(pattern.pattern)


def project_urls() -> dict[str, str]:
    return {
        name: route
        for name, route in walk(get_resolver().url_patterns)
        if not name.startswith(f"{ADMIN_NAMESPACE}:")
    }


# --- requests -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    location: str
    body: Any

    @property
    def text(self) -> str:
        return self.body if isinstance(self.body, str) else json.dumps(self.body)


_VOLATILE = re.compile(r'((?:nonce|value|content)="|"X-CSRFToken": ")[^"]*"')


def answer(response: HttpResponseBase) -> Answer:
    if getattr(response, "streaming", False):
        raw = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    else:
        raw = response.content  # type: ignore[attr-defined]
    content_type = response.get("Content-Type", "")
    text = raw.decode("utf-8", errors="replace")
    body: Any = text
    if content_type.startswith("application/json") and text:
        body = json.loads(text)
    return Answer(response.status_code, content_type, response.get("Location", ""), body)


def shape(a: Answer) -> tuple[Any, ...]:
    """What must be the same for an out-of-scope and a missing object: everything but the
    per-request tokens (CSRF, CSP nonce) of a page."""
    body = a.body if not isinstance(a.body, str) else _VOLATILE.sub(r'\1"', a.body)
    return a.status, a.content_type, a.location, body


def send(client: Client, cookies: SimpleCookie, method: str, url: str, api: bool) -> Answer:
    """One request, rolled back afterwards, with the persona's cookies as they were."""
    client.cookies = SimpleCookie()
    client.cookies.load(cookies)
    with transaction.atomic():
        try:
            if method == "GET":
                response = client.get(url)
            elif api:
                response = client.generic(method, url, "{}", "application/json")
            else:
                response = client.generic(method, url, "", "application/x-www-form-urlencoded")
            return answer(response)
        except Exception as error:  # a crash is a finding, reported with the others
            return Answer(599, "", "", f"{type(error).__name__}: {error}")
        finally:
            transaction.set_rollback(True)


def url_for(world: MatrixWorld, route: Route, scope: str) -> str | None:
    """The URL of ``route`` naming objects in ``scope``, or None when the scope does not apply."""
    kinds = route.fill.values()
    if scope == OTHER_SITE and not any(KINDS[k][0] for k in kinds):
        return None
    if scope == FOREIGN and not any(KINDS[k][1] for k in kinds):
        return None
    if scope == MISSING and not kinds:
        return None
    if route.audience != "trial" and scope != INSIDE:
        return None
    kwargs: dict[str, Any] = {}
    for argument, kind in route.fill.items():
        site_bound, identifier, nothing = KINDS[kind]
        here = world.objects["ips"][kind]
        if scope == OTHER_SITE and site_bound:
            kwargs[argument] = here["other_site"]
        elif (scope == FOREIGN and identifier) or scope in (OTHER_TRIAL, NO_TRIAL):
            kwargs[argument] = world.objects["other"][kind]["inside"]
        elif scope == MISSING:
            kwargs[argument] = nothing
        else:
            kwargs[argument] = here["inside"]
    if route.audience == "trial":
        kwargs["code"] = {OTHER_TRIAL: "other", NO_TRIAL: "no-such-trial"}.get(scope, "ips")
    return reverse(route.name, kwargs=kwargs)


# --- expectations ---------------------------------------------------------------------------

ALLOWED = None  # any answer but 401, 403, 404 or a server error


def expected(world: MatrixWorld, route: Route, need: Need, persona: str, scope: str) -> int | None:
    """The answer the permission table promises ``persona`` for this request."""
    if route.audience == "public":
        return need.status
    if persona == "anonymous":
        return 401 if route.is_api else 302
    if route.audience == "login":
        return need.status
    if route.audience == "model_perm":
        return need.status if world.users[persona].has_perm(route.model_perm) else 403
    if not need.trial_check:
        return need.status
    code = {OTHER_TRIAL: "other", NO_TRIAL: "no-such-trial"}.get(scope, "ips")
    membership = world.memberships.get((persona, code))
    if membership is None:
        return 404
    if not need.allows(permissions.perms_for(membership)):
        return 403
    if not need.object_check:
        return need.status
    if scope in (FOREIGN, MISSING):
        return 404
    if scope == OTHER_SITE and membership.role in SITE_SCOPED_ROLES:
        return 404  # the caseworker works at OSLA only; the object is at BGO
    if not need.object_perms <= permissions.perms_for(membership):
        return 403
    place = "other_site" if scope == OTHER_SITE else "inside"
    if need.author_only and world.authors[(code, place)] != persona:
        return 403
    return need.status


def agrees(want: int | None, got: Answer, persona: str, route: Route) -> bool:
    if want is ALLOWED:
        return got.status not in (401, 403, 404) and got.status < 500
    if got.status != want:
        return False
    if want == 302 and persona == "anonymous" and route.audience != "public":
        return got.location.startswith("/accounts/login/")
    return True


def leaks(world: MatrixWorld, persona: str, scope: str, url: str, got: Answer) -> list[str]:
    """What this persona must never read in any answer of the ``ips`` trial's URLs (an id
    they typed into the URL does not count)."""
    if persona == "anonymous" or scope in (OTHER_TRIAL, NO_TRIAL):
        return []
    found = []
    text = got.text
    membership = world.memberships.get((persona, "ips"))
    if membership is not None and Perm.VIEW_ARM_NAMES not in permissions.perms_for(membership):
        found += [f"arm name {name!r}" for name in ARM_NAMES.values() if name in text]
    for study_id in world.hidden_study_ids(persona):
        if study_id in text and study_id not in url:
            found.append(f"study id {study_id} outside their scope")
    return found


# --- the matrix -----------------------------------------------------------------------------


def plan(world: MatrixWorld, route: Route) -> Iterator[tuple[str, str, str, str]]:
    """(persona, method, scope, url) of every request the matrix makes for one route.

    Every persona asks in every scope that applies. Beyond that, an id that does not exist is
    asked only by those promised 404 for an out-of-scope object (to compare the two answers),
    a trial that does not exist only by the outsider with the route's first method (to compare
    with this trial), and the outsider also asks about its own trial's objects, which shows
    that the objects the others are refused are real.
    """
    for persona in ["anonymous"] if route.audience == "public" else [*PERSONA_NAMES, "anonymous"]:
        for i, (method, need) in enumerate(route.methods.items()):
            scopes = [INSIDE] if persona == "anonymous" else [INSIDE, OTHER_SITE, FOREIGN]
            if persona == "outsider":
                scopes += [OTHER_TRIAL] if route.fill else []
                scopes += [NO_TRIAL] if i == 0 else []
            elif persona != "anonymous" and any(
                expected(world, route, need, persona, scope) == 404
                and url_for(world, route, scope) is not None
                for scope in (OTHER_SITE, FOREIGN)
            ):
                scopes.append(MISSING)
            for scope in scopes:
                url = url_for(world, route, scope)
                if url is not None:
                    yield persona, method, scope, url


def check_route(world: MatrixWorld, route: Route) -> tuple[int, list[str]]:
    """Run one route's plan; (checks made, problems found)."""
    if route.prepare is not None:
        route.prepare(world)
    problems: list[str] = []
    checks = 0
    answers: dict[tuple[str, str, str], Answer] = {}
    for persona, method, scope, url in plan(world, route):
        got = send(world.client(persona), world.cookies[persona], method, url, route.is_api)
        answers[(persona, method, scope)] = got
        want = expected(world, route, route.methods[method], persona, scope)
        checks += 1
        where = f"{persona} {method} {url} ({scope})"
        if not agrees(want, got, persona, route):
            detail = got.body if got.status == 599 else ""
            problems.append(
                f"{where}: got {got.status}, want {want or 'allowed'} {detail}".rstrip()
            )
        problems += [f"{where}: {leak}" for leak in leaks(world, persona, scope, url, got)]
    # Out of scope answers exactly like missing: same status, headers that matter and body.
    for (persona, method, scope), got in answers.items():
        same_as = {OTHER_SITE: MISSING, FOREIGN: MISSING, INSIDE: NO_TRIAL}.get(scope)
        twin = answers.get((persona, method, same_as)) if same_as else None
        if twin is None or got.status != 404:
            continue
        checks += 1
        if shape(got) != shape(twin):
            problems.append(f"{persona} {method} {route.name}: {scope} answers unlike {same_as}")
    return checks, problems
