"""Staff pages of participant questionnaires: a participant's contact details (kept
encrypted, never shown in full elsewhere) and a trial's link settings."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from surveys import services
from surveys.forms import ContactForm, SettingsForm
from surveys.models import ContactDetails
from trial import permissions
from trial.models import Trial
from trial.permissions import AuthenticatedHttpRequest, Perm
from trial.views import show_error, trial_view


@trial_view(Perm.RECORD_ASSESSMENT)
@require_http_methods(["GET", "POST"])
def contact(request: AuthenticatedHttpRequest, trial: Trial, study_id: str) -> HttpResponse:
    participant = permissions.get_participant(request.user, trial, study_id, Perm.RECORD_ASSESSMENT)
    current = ContactDetails.objects.filter(participant=participant).first()
    initial = (
        {"email": current.email, "phone": current.phone, "language": current.language}
        if current
        else {"language": "nb"}
    )
    form = ContactForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.set_contact_details(
                participant,
                email=form.cleaned_data["email"],
                phone=form.cleaned_data["phone"],
                language=form.cleaned_data["language"],
                actor=request.user,
            )
        except services.SurveyError as error:
            show_error(form, error)
        else:
            messages.success(request, _("Contact details saved."))
            return redirect(participant.get_absolute_url())
    context = {"trial": trial, "participant": participant, "form": form, "contact": current}
    return render(request, "surveys/staff/contact.html", context)


@trial_view(Perm.CONFIGURE_TRIAL)
@require_http_methods(["GET", "POST"])
def link_settings(request: HttpRequest, trial: Trial) -> HttpResponse:
    current = services.settings_for(trial)
    form = SettingsForm(
        request.POST or None,
        initial={"links_enabled": current.links_enabled, "reminder_days": current.reminder_days},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.update_settings(
                trial,
                links_enabled=form.cleaned_data["links_enabled"],
                reminder_days=form.cleaned_data["reminder_days"],
                actor=request.user,  # type: ignore[arg-type]  # trial_view signs in
            )
        except services.SurveyError as error:
            show_error(form, error)
        else:
            messages.success(request, _("Participant link settings saved."))
            return redirect("surveys_staff:settings", code=trial.code)
    return render(request, "surveys/staff/settings.html", {"trial": trial, "form": form})
