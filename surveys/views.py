"""The participant's pages, reached through a personal link: no account, no staff session
needed, CSRF on, throttled per client address. One item per screen with progress, then a
check-and-send screen; answers are saved on the server as they go, so the same link continues
later. Every unusable link (unknown, expired, stopped, links switched off) gets the same
page and status, so a link's existence cannot be probed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django import forms
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from config.network import client_ip
from instruments.definition import Definition, Item
from instruments.forms import help_text, item_field, shown_value
from instruments.services import AnswersError
from surveys import flow, links
from surveys.models import Invitation
from trial.services import TrialError

View = Callable[..., HttpResponse]


def _rate() -> tuple[int, int]:
    count, _slash, period = settings.SURVEY_LINK_RATE.partition("/")
    seconds = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}.get(period, 60)
    return int(count), seconds


def throttled(view: View) -> View:
    """At most SURVEY_LINK_RATE requests per client address (as sign-in lock-outs and the API
    see it, config/network.py) to the link pages; over it, 429 with Retry-After."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        limit, seconds = _rate()
        window = int(timezone.now().timestamp()) // seconds
        key = f"surveys:rate:{client_ip(request) or '-'}:{window}"
        cache.add(key, 0, seconds)
        try:
            count = cache.incr(key)
        except ValueError:  # the key expired in between, or the cache is down
            count = 1
        if count > limit:
            response = render(request, "surveys/throttled.html", status=429)
            response["Retry-After"] = str(seconds)
            return response
        return view(request, *args, **kwargs)

    return wrapped


def _language(request: HttpRequest, invitation: Invitation) -> str:
    """The participant's language, unless they switched on the page (kept in the session)."""
    chosen = request.GET.get("lang", "")
    key = f"surveys:lang:{invitation.pk}"
    if chosen in {"nb", "en"}:
        request.session[key] = chosen
        return chosen
    stored = request.session.get(key)
    if stored in {"nb", "en"}:
        return str(stored)
    contact = getattr(invitation.participant, "contact_details", None)
    return contact.language if contact is not None else "nb"


def _page(
    request: HttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    language: str,
    status: int = 200,
) -> HttpResponse:
    with translation.override(language):
        context = {**context, "language": language}
        response = render(request, template, context, status=status)
    response["Content-Language"] = language
    # The token is in the address: never sent to another site (same-origin, not no-referrer,
    # under which browsers send "Origin: null" and the CSRF check refuses the form).
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex"
    return response


def unusable_link(request: HttpRequest) -> HttpResponse:
    language = translation.get_language() or "nb"
    return _page(request, "surveys/unusable.html", {}, language=language, status=404)


def _open(token: str) -> Invitation | None:
    try:
        return links.find_invitation(token)
    except links.LinkUnusable:
        return None


class ItemForm(forms.Form):
    """One item, its field as the staff form builds it (instruments.forms)."""

    def __init__(self, item: Item, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.item = item
        field = item_field(item, item.label.get())
        field.help_text = help_text(item)
        self.fields[item.name] = field


def _form(item: Item, raw: Any, error: str | None) -> ItemForm:
    form = ItemForm(item, initial={item.name: raw})
    bound = form[item.name]
    described = []
    if bound.help_text:
        described.append(f"{bound.auto_id}_helptext")
    if error:
        described.append(f"{bound.auto_id}_error")
        bound.field.widget.attrs["aria-invalid"] = "true"
    if described and not bound.use_fieldset:
        bound.field.widget.attrs["aria-describedby"] = " ".join(described)
    return form


def _review_rows(definition: Definition, draft: Any) -> list[dict[str, Any]]:
    rows = []
    codes = {m.code: m.label.get() for m in definition.missing_codes}
    for index, item in enumerate(flow.asked_items(definition, draft.values, draft.missing)):
        if item.name in draft.missing:
            shown = codes.get(draft.missing[item.name], draft.missing[item.name])
        elif item.name in draft.values:
            try:
                shown = shown_value(item, _clean(item, draft.values[item.name]))
            except ValueError:
                shown = str(draft.values[item.name])
        else:
            shown = ""
        rows.append({"item": item, "shown": shown, "step": index + 1})
    return rows


def _clean(item: Item, raw: Any) -> Any:
    from instruments.definition import parse_value

    return parse_value(item, raw)


@never_cache
@throttled
@require_http_methods(["GET", "POST"])
def answer(request: HttpRequest, token: str) -> HttpResponse:
    """The questionnaire behind a link: ``?step=n`` (1-based) shows the n-th asked item, one
    past the last the check-and-send screen; without it, the first unanswered item."""
    invitation = _open(token)
    if invitation is None:
        return unusable_link(request)
    language = _language(request, invitation)
    base = {"invitation": invitation, "token": token, "trial": invitation.participant.trial}
    if invitation.answered_at is not None or links.answered(invitation):
        return _page(request, "surveys/answered.html", base, language=language)
    links.mark_opened(invitation)
    definition = invitation.version.parsed
    draft = links.draft_for(invitation)
    with translation.override(language):
        return _answer(request, invitation, definition, draft, base, language)


def _answer(
    request: HttpRequest,
    invitation: Invitation,
    definition: Definition,
    draft: Any,
    base: dict[str, Any],
    language: str,
) -> HttpResponse:
    token = base["token"]
    here = reverse("surveys:answer", args=[token])
    asked = flow.asked_items(definition, draft.values, draft.missing)
    total = len(asked)
    if request.method == "POST":
        action = request.POST.get("action", "next")
        if action == "submit":
            try:
                links.submit_answers(invitation)
            except AnswersError as error:
                rows = _review_rows(definition, draft)
                for row in rows:
                    row["error"] = error.answer_errors.get(row["item"].name)
                context = {**base, "rows": rows, "total": total, "failed": True}
                return _page(request, "surveys/review.html", context, language=language)
            except TrialError:
                return _page(request, "surveys/answered.html", base, language=language)
            return redirect(reverse("surveys:thanks", args=[token]))
        name = request.POST.get("item", "")
        item = next((i for i in asked if i.name == name), None)
        if item is None:  # a stale screen: an earlier answer changed what is asked
            return redirect(here)
        step = asked.index(item) + 1
        raw = flow.raw_from_post(item, request.POST)
        code = ""
        if action == "decline" and flow.can_decline(definition):
            raw, code = ("" if not isinstance(raw, list) else []), flow.DECLINE_CODE
        values = {**draft.values, item.name: raw}
        missing = {k: v for k, v in draft.missing.items() if k != item.name}
        if code:
            values.pop(item.name, None)
            missing[item.name] = code
        error = flow.check_item(definition, item, values, missing)
        if error and action == "back":
            return redirect(f"{here}?step={max(step - 1, 1)}")
        if error:
            context = _screen(invitation, definition, asked, item, raw, error, base)
            return _page(request, "surveys/answer.html", context, language=language, status=200)
        draft = links.save_answer(invitation, name=item.name, value=raw, missing_code=code or None)
        if action == "save":
            return _page(request, "surveys/saved.html", base, language=language)
        if action == "back":
            return redirect(f"{here}?step={max(step - 1, 1)}")
        asked = flow.asked_items(definition, draft.values, draft.missing)
        following = asked.index(item) + 2 if item in asked else step + 1
        return redirect(f"{here}?step={following}")
    step = _step(request, asked, draft)
    if step > total:
        context = {**base, "rows": _review_rows(definition, draft), "total": total}
        return _page(request, "surveys/review.html", context, language=language)
    item = asked[step - 1]
    raw = draft.values.get(item.name)
    context = _screen(invitation, definition, asked, item, raw, None, base)
    return _page(request, "surveys/answer.html", context, language=language)


def _step(request: HttpRequest, asked: list[Item], draft: Any) -> int:
    try:
        step = int(request.GET.get("step", ""))
    except ValueError:
        step = 0
    if 1 <= step <= len(asked) + 1:
        return step
    for index, item in enumerate(asked):
        if item.name not in draft.values and item.name not in draft.missing:
            return index + 1
    return len(asked) + 1


def _screen(
    invitation: Invitation,
    definition: Definition,
    asked: list[Item],
    item: Item,
    raw: Any,
    error: str | None,
    base: dict[str, Any],
) -> dict[str, Any]:
    step = asked.index(item) + 1
    form = _form(item, raw, error)
    return {
        **base,
        "form": form,
        "field": form[item.name],
        "item": item,
        "error": error,
        "step": step,
        "total": len(asked),
        "percent": round(100 * (step - 1) / max(len(asked), 1)),
        "can_decline": flow.can_decline(definition),
        "declined": False,
        "first": step == 1,
        "last": step == len(asked),
    }


@never_cache
@throttled
@require_http_methods(["GET"])
def thanks(request: HttpRequest, token: str) -> HttpResponse:
    invitation = _open(token)
    if invitation is None:
        return unusable_link(request)
    language = _language(request, invitation)
    if not links.answered(invitation):
        return redirect(reverse("surveys:answer", args=[token]))
    base = {"invitation": invitation, "token": token, "trial": invitation.participant.trial}
    return _page(request, "surveys/thanks.html", base, language=language)


@never_cache
@throttled
@require_http_methods(["GET", "POST"])
def opt_out(request: HttpRequest, token: str) -> HttpResponse:
    """No more messages: a confirmation, then the opt-out recorded (POST)."""
    try:
        invitation = links.find_invitation(token)
    except links.LinkUnusable:
        return unusable_link(request)
    language = _language(request, invitation)
    base = {"invitation": invitation, "token": token, "trial": invitation.participant.trial}
    if request.method == "POST":
        links.opt_out(invitation)
        return _page(request, "surveys/opted_out.html", base, language=language)
    return _page(request, "surveys/opt_out.html", base, language=language)
