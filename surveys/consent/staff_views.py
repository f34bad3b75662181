"""Coordinators' pages of electronic consent: the trial's consent text versions (drafts,
publishing, re-consent with its counts), asking one participant through a link, and the
signed PDFs."""

from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from surveys.consent import delivery, services
from surveys.consent.forms import ConsentTextForm
from surveys.consent.models import ConsentRecord, ConsentText
from surveys.consent.text import shown
from trial import permissions
from trial.models import Participant, Trial
from trial.permissions import AuthenticatedHttpRequest, Perm
from trial.services import TrialError
from trial.views import show_error, trial_view


@trial_view(Perm.MANAGE_CONSENT)
@require_GET
def texts(request: AuthenticatedHttpRequest, trial: Trial) -> HttpResponse:
    rows = list(ConsentText.objects.filter(trial=trial).order_by("-effective_on", "-pk"))
    counts = services.counts_for(rows)
    current = ConsentText.objects.current(trial, timezone.localdate())
    context = {
        "trial": trial,
        "rows": [{"text": t, "counts": counts[t.pk], "current": t == current} for t in rows],
    }
    return render(request, "surveys/consent/texts.html", context)


def _text(trial: Trial, text_id: int) -> ConsentText:
    return get_object_or_404(ConsentText, pk=text_id, trial=trial)


def _edit(
    request: AuthenticatedHttpRequest, trial: Trial, draft: ConsentText | None
) -> HttpResponse:
    source = draft
    if source is None and request.GET.get("from", "").isdigit():
        source = ConsentText.objects.filter(trial=trial, pk=int(request.GET["from"])).first()
    initial = (
        {
            "version": source.version if draft else "",
            "effective_on": source.effective_on if draft else timezone.localdate(),
            "text_nb": source.text_nb,
            "text_en": source.text_en,
        }
        if source
        else {"effective_on": timezone.localdate()}
    )
    form = ConsentTextForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.save_text(trial, actor=request.user, draft=draft, **form.cleaned_data)
        except TrialError as error:
            show_error(form, error)
        else:
            messages.success(request, _("Consent text saved as a draft."))
            return redirect("consent_staff:edit", code=trial.code, text_id=saved.pk)
    preview = {language: shown(draft, language) for language in ("nb", "en")} if draft else {}
    context = {"trial": trial, "form": form, "draft": draft, "preview": preview}
    return render(request, "surveys/consent/edit.html", context)


@trial_view(Perm.MANAGE_CONSENT)
@require_http_methods(["GET", "POST"])
def new(request: AuthenticatedHttpRequest, trial: Trial) -> HttpResponse:
    """A new draft version (``?from=<id>`` starts from an earlier version's text)."""
    return _edit(request, trial, None)


@trial_view(Perm.MANAGE_CONSENT)
@require_http_methods(["GET", "POST"])
def edit(request: AuthenticatedHttpRequest, trial: Trial, text_id: int) -> HttpResponse:
    """A draft's text (a published version is shown, never edited)."""
    text = _text(trial, text_id)
    if text.published:
        preview = {language: shown(text, language) for language in ("nb", "en")}
        counts = services.counts_for([text])[text.pk]
        context = {"trial": trial, "text": text, "preview": preview, "counts": counts}
        return render(request, "surveys/consent/published.html", context)
    return _edit(request, trial, text)


@trial_view(Perm.MANAGE_CONSENT)
@require_POST
def publish(request: AuthenticatedHttpRequest, trial: Trial, text_id: int) -> HttpResponse:
    text = _text(trial, text_id)
    try:
        services.publish_text(text, actor=request.user)
    except TrialError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Version %(version)s published.") % {"version": text.version})
    return redirect("consent_staff:edit", code=trial.code, text_id=text.pk)


@trial_view(Perm.MANAGE_CONSENT)
@require_POST
def reconsent(request: AuthenticatedHttpRequest, trial: Trial, text_id: int) -> HttpResponse:
    text = _text(trial, text_id)
    try:
        asked = delivery.ask_reconsent(text, actor=request.user)
    except TrialError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _("%(n)d participant(s) asked to re-consent to version %(version)s.")
            % {"n": asked, "version": text.version},
        )
    return redirect("consent_staff:edit", code=trial.code, text_id=text.pk)


@trial_view(Perm.MANAGE_CONSENT)
@require_POST
def send_link(request: AuthenticatedHttpRequest, trial: Trial, study_id: str) -> HttpResponse:
    """Send one participant a consent link for the version in force."""
    participant = permissions.get_participant(request.user, trial, study_id, Perm.MANAGE_CONSENT)
    text = ConsentText.objects.current(trial, timezone.localdate())
    if text is None:
        messages.error(request, _("No consent text is in force for this trial."))
        return redirect(participant.get_absolute_url())
    try:
        _request, created = delivery.request_consent(participant, text, actor=request.user)
    except TrialError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _("Consent link sent.") if created else _("A consent link was sent already."),
        )
    return redirect(participant.get_absolute_url())


@trial_view(Perm.MANAGE_CONSENT)
@require_GET
def record_pdf(request: AuthenticatedHttpRequest, trial: Trial, record_id: int) -> FileResponse:
    """A signed consent's PDF, for coordinators; the download is audited."""
    visible = Participant.objects.filter(trial=trial).visible_to(request.user)
    record = get_object_or_404(
        ConsentRecord.objects.select_related("participant__trial", "text"),
        pk=record_id,
        participant__in=visible,
    )
    try:
        path = services.pdf_for_download(record, actor=request.user)
    except TrialError:
        raise Http404 from None
    return FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=f"consent-{record.participant.study_id}-{record.pk}.pdf",
        content_type="application/pdf",
    )
