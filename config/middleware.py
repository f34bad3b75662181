"""Middleware of the project as a whole (no domain rules)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
"""Django's errors for a database that is unreachable or refuses work for a moment
(connection refused or terminated, server restarting, deadlock, serialisation failure)."""


def database_unavailable(request: HttpRequest) -> HttpResponse:
    """The answer to a request the database could not serve: 503 Service Unavailable with
    ``Retry-After``. API paths get the API's error shape (``detail`` and ``code``); pages get a
    page in the reader's language (cookie or ``Accept-Language``) rendered without the request,
    so without the session, the user or any context processor: nothing that needs the database.
    """
    with translation.override(translation.get_language_from_request(request)):
        if request.path.startswith("/api/"):
            response: HttpResponse = JsonResponse(
                {
                    "detail": _(
                        "The database could not be reached. Retry the request: with the same "
                        "client id or idempotency key a write is recorded once."
                    ),
                    "code": "service_unavailable",
                },
                status=503,
            )
        else:
            response = HttpResponse(render_to_string("503.html"), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class DatabaseUnavailableMiddleware:
    """Answer 503 Service Unavailable, not 500, when the database connection is lost or the
    database refuses work for a moment, in a view (:func:`database_unavailable`).

    The transaction the request was in has been rolled back by then, so none of it was written;
    contacts and randomisations carry client ids and idempotency keys, so a retry is recorded
    once even if the connection was lost just after a commit. Errors raised outside the view
    (the session or user looked up by a middleware, a session saved on the way out) never
    reach ``process_exception``: Django turns them into its 500 handler, and
    ``config.api.server_error`` gives the same answer for them.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DATABASE_UNAVAILABLE):
            return None
        logger.error(
            "database unavailable during %s %s: %s",
            request.method,
            request.path,
            exception,
            exc_info=exception,
        )
        return database_unavailable(request)
