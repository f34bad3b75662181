"""The consent screen: through the participant's personal link (no account; throttled, CSRF
on, one page for every unusable link) and on a staff device (a signed-in staff member hands
the device to the participant). Both show the same screen in the participant's language,
with the version's text, and record what the participant confirmed or declined.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from surveys.consent import delivery, services
from surveys.consent.forms import ConfirmForm, WithdrawForm
from surveys.consent.models import ConsentRecord, ConsentRequest, ConsentText
from surveys.consent.text import shown
from surveys.models import ContactDetails
from surveys.views import throttled, unusable_link
from trial import permissions
from trial.models import Participant, Trial
from trial.permissions import AuthenticatedHttpRequest, Perm
from trial.services import TrialError
from trial.views import show_error, trial_view


def _language(request: HttpRequest, key: str, participant: Participant) -> str:
    """The participant's language, unless switched on the page (kept in the session)."""
    chosen = request.GET.get("lang", "")
    if chosen in {"nb", "en"}:
        request.session[key] = chosen
        return chosen
    stored = request.session.get(key)
    if stored in {"nb", "en"}:
        return str(stored)
    contact = ContactDetails.objects.filter(participant=participant).first()
    return contact.language if contact is not None else "nb"


def _page(
    request: HttpRequest, template: str, context: dict[str, Any], *, language: str
) -> HttpResponse:
    with translation.override(language):
        # ``invitation`` makes surveys/base.html offer the language switch.
        context = {"invitation": True, **context, "language": language}
        response = render(request, template, context)
    response["Content-Language"] = language
    response["Referrer-Policy"] = "same-origin"  # see surveys/views.py
    response["X-Robots-Tag"] = "noindex"
    return response


def _answer(
    request: HttpRequest,
    participant: Participant,
    text: ConsentText,
    *,
    channel: str,
    actor: Any,
    consent_request: ConsentRequest | None,
) -> tuple[ConsentRecord | None, ConfirmForm]:
    """Check the posted answer and record it; the record, or None and the form with errors."""
    form = ConfirmForm(request.POST)
    if not form.is_valid():
        return None, form
    data = form.cleaned_data
    if data["text"] != text.pk:  # a stale screen: show the current version again
        form.add_error(None, _("The consent text has changed since it was shown. Read it again."))
        return None, form
    common: dict[str, Any] = {
        "language": data["language"],
        "channel": channel,
        "shown_sha256": data["shown_sha256"],
        "actor": actor,
        "request": consent_request,
    }
    try:
        if request.POST.get("action") == "decline":
            return services.decline_consent(participant, text, **common), form
        record = services.record_consent(
            participant,
            text,
            typed_name=data["typed_name"],
            signed_on=data["signed_on"],
            **common,
        )
    except TrialError as error:
        show_error(form, error)
        return None, form
    return record, form


def _screen(
    request: HttpRequest,
    text: ConsentText,
    language: str,
    form: ConfirmForm | None,
    extra: dict[str, Any],
) -> HttpResponse:
    screen = shown(text, language)
    initial = {"text": text.pk, "language": screen.language, "shown_sha256": screen.sha256}
    if form is None:
        form = ConfirmForm(initial=initial)
    else:  # re-shown after an error: the hidden fields say what is shown now
        data = request.POST.copy()
        for key, value in initial.items():
            data[key] = str(value)
        form.data = data
    context = {
        **extra,
        "text": text,
        "shown": screen,
        "form": form,
        "today": timezone.localdate(),
    }
    return _page(request, "surveys/consent/page.html", context, language=screen.language)


@never_cache
@throttled
@require_http_methods(["GET", "POST"])
def page(request: HttpRequest, token: str) -> HttpResponse:
    """The consent screen behind a consent link; once answered, the answer and the way to
    withdraw."""
    try:
        consent_request = delivery.find_request(token)
    except delivery.LinkUnusable:
        return unusable_link(request)
    participant = consent_request.participant
    language = _language(request, f"consent:lang:{consent_request.pk}", participant)
    base: dict[str, Any] = {
        "trial": participant.trial,
        "withdraw_url": reverse("consent:withdraw", args=[token]),
        "action_url": reverse("consent:page", args=[token]),
    }
    text = consent_request.text
    form = None
    if request.method == "POST" and consent_request.closed_at is None:
        record, form = _answer(
            request,
            participant,
            text,
            channel=ConsentRecord.Channel.LINK,
            actor=None,
            consent_request=consent_request,
        )
        if record is not None:
            return redirect(base["action_url"])
        language = form.data.get("language", language)
    if consent_request.closed_at is not None:
        record = consent_request.records.order_by("-recorded_at", "-pk").first()
        context = {**base, "record": record, "text": text}
        return _page(request, "surveys/consent/answered.html", context, language=language)
    return _screen(request, text, language, form, base)


@never_cache
@throttled
@require_http_methods(["GET", "POST"])
def withdraw(request: HttpRequest, token: str) -> HttpResponse:
    """Withdrawal from the study on the participant's consent link: the scopes staff record,
    then a confirmation (the link stops working)."""
    try:
        consent_request = delivery.find_request(token)
    except delivery.LinkUnusable:
        return unusable_link(request)
    participant = consent_request.participant
    language = _language(request, f"consent:lang:{consent_request.pk}", participant)
    form = WithdrawForm(request.POST or None)
    base = {"trial": participant.trial, "back_url": reverse("consent:page", args=[token])}
    if request.method == "POST" and form.is_valid():
        try:
            services.withdraw_through_link(
                consent_request,
                scope=form.cleaned_data["scope"],
                reason=form.cleaned_data["reason"],
            )
        except TrialError as error:
            show_error(form, error)
        else:
            return _page(request, "surveys/consent/withdrawn.html", base, language=language)
    context = {**base, "form": form}
    return _page(request, "surveys/consent/withdraw.html", context, language=language)


@trial_view(Perm.RECORD_ASSESSMENT)
@require_http_methods(["GET", "POST"])
def staff_device(request: AuthenticatedHttpRequest, trial: Trial, study_id: str) -> HttpResponse:
    """The consent screen on a staff member's device, for the version in force today;
    recorded with channel "staff device" and the staff member."""
    participant = permissions.get_participant(request.user, trial, study_id, Perm.RECORD_ASSESSMENT)
    text = ConsentText.objects.current(trial, timezone.localdate())
    if text is None or participant.status != Participant.Status.ACTIVE:
        messages.error(
            request,
            _("No consent text is in force for this trial.")
            if text is None
            else _("This participant is no longer active in the study."),
        )
        return redirect(participant.get_absolute_url())
    language = _language(request, f"consent:staff:{participant.pk}", participant)
    base: dict[str, Any] = {
        "trial": trial,
        "staff_device": True,
        "action_url": reverse("consent_staff:device", args=[trial.code, participant.study_id]),
    }
    form = None
    if request.method == "POST":
        record, form = _answer(
            request,
            participant,
            text,
            channel=ConsentRecord.Channel.STAFF_DEVICE,
            actor=request.user,
            consent_request=None,
        )
        if record is not None:
            messages.success(
                request,
                _("Consent recorded (version %(version)s).") % {"version": text.version}
                if record.outcome == ConsentRecord.Outcome.CONSENTED
                else _("The participant declined version %(version)s.") % {"version": text.version},
            )
            return redirect(participant.get_absolute_url())
        language = form.data.get("language", language)
    return _screen(request, text, language, form, base)
