"""Requests carrying characters the database cannot store answer 400, whatever the view.

A NUL (U+0000) or an unpaired surrogate in the address, a query parameter or a form field
would reach a query or a stored value, where PostgreSQL refuses it: a 500 in any view that
filters on a parameter. :class:`InvalidCharactersMiddleware` refuses such a request before
any view runs, so pages added later are covered too. The API answers with its 400 body naming
the parameter; pages with a page naming the field, in the reader's language. JSON bodies are
the API serializers' business (DRF's text fields refuse both characters).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from config.api import API_PREFIX, validation_error_body
from trial.text import printable, unstorable_character

ADDRESS = ""  # the name of the path, in a fault found there


def find_unstorable(request: HttpRequest) -> tuple[str, str] | None:
    """(where, character) of the first character the database cannot store in the path
    (``where`` is ``ADDRESS``), a query parameter's name or value, or, for a page's POST, a
    form field's name or value; None when there is none. (Django drops a NUL from an uploaded
    file's name, and the files' contents are their importers' business.)

    The API's request bodies are left to its parsers and serializers, so that an unreadable
    body keeps the API's own answer.
    """
    character = unstorable_character(request.path)
    if character is not None:
        return ADDRESS, character
    sources = [request.GET]
    form_post = request.method == "POST" and not request.path.startswith(API_PREFIX)
    if form_post:
        sources.append(request.POST)  # CsrfViewMiddleware reads it for every page POST too
    for data in sources:
        for name, values in data.lists():
            for text in (name, *values):
                character = unstorable_character(text)
                if character is not None:
                    return printable(name), character
    return None


def invalid_characters(request: HttpRequest, where: str, character: str) -> HttpResponse:
    """The 400 for a request with a character the database cannot store."""
    if where == ADDRESS:
        problem = _("The address contains a character that is not allowed: %(character)s.") % {
            "character": character
        }
    else:
        problem = _("“%(name)s” contains a character that is not allowed: %(character)s.") % {
            "name": where,
            "character": character,
        }
    if request.path.startswith(API_PREFIX):
        message = _("Contains a character that is not allowed: %(character)s.") % {
            "character": character
        }
        errors = {where: [message]} if where != ADDRESS else [problem]
        return JsonResponse(validation_error_body(errors), status=400)
    # Rendered without the request: nothing of the user's session is needed to say this.
    return HttpResponse(render_to_string("400_characters.html", {"problem": problem}), status=400)


class InvalidCharactersMiddleware:
    """Refuse, with 400, a request whose address, query string or form fields carry a
    character the database cannot store (:func:`find_unstorable`)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        fault = find_unstorable(request)
        if fault is not None:
            return invalid_characters(request, *fault)
        return self.get_response(request)
