"""Pages for the contact log: logging a contact (with a participant, or with an employer),
the list of contacts and the correction page. Access is decided in ``trial.permissions``; the
rules are in ``fidelity.contacts.services``."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import AnonymousUser, User
from django.core.paginator import Paginator
from django.db.models import QuerySet, Sum
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from fidelity.contacts import services
from fidelity.contacts.forms import ContactFieldsForm, ContactForm, EmployerContactForm
from fidelity.forms import new_client_id, show_error
from fidelity.models import Contact, Exposure
from trial import permissions
from trial.models import Participant, Trial
from trial.permissions import AuthenticatedHttpRequest, Perm
from trial.services import TrialError
from trial.views import trial_view

FORM_METHODS = ["GET", "POST"]
RECENT_CONTACTS = 15
SEARCH_RESULTS = 20
MONTH = re.compile(r"(\d{4})-(\d{2})")


def may_learn_arm(request: AuthenticatedHttpRequest, trial: Trial) -> bool:
    """Whether the user may be told that a participant is in a control arm: they may see
    allocations, and arm names (the blinding rule, ``trial.permissions``). A contamination
    warning or exposure exists only for control participants, so it tells the arm."""
    user = request.user
    return permissions.has_perm(user, trial, Perm.VIEW_ALLOCATION) and permissions.sees_arm_names(
        user, trial
    )


def _exposure_warning(
    request: AuthenticatedHttpRequest,
    trial: Trial,
    participant: Participant | None,
    values: dict[str, Any],
) -> dict[str, Any] | None:
    """What to warn about before a contact is saved: intervention-specific components about
    to be logged for a control participant. None when there is nothing to say, or the user
    may not learn the arm (docs/decisions.md, "Contamination warnings and blinding")."""
    if participant is None or not may_learn_arm(request, trial):
        return None
    found = services.exposure_components(
        participant, values["contact_on"], list(values["components"])
    )
    if not found:
        return None
    return {"study_id": participant.study_id, "components": [c.name for c in found]}


def _report_exposures(request: AuthenticatedHttpRequest, trial: Trial, contact: Contact) -> None:
    """After saving: say that the contact was recorded as a contamination exposure."""
    if contact.participant is None or not may_learn_arm(request, trial):
        return
    names = list(
        Exposure.objects.filter(contact=contact, source=Exposure.Source.CONTACT)
        .order_by("component__order", "component__code")
        .values_list("component__name", flat=True)
    )
    if names:
        messages.warning(
            request,
            _(
                "A contamination exposure was recorded: %(study_id)s is in a control arm and "
                "received %(components)s."
            )
            % {"study_id": contact.participant.study_id, "components": ", ".join(names)},
        )


def _own_participants(request: AuthenticatedHttpRequest, trial: Trial) -> QuerySet[Participant]:
    """The participants the user may log contacts for: at their sites only."""
    return permissions.scope_participants(
        Participant.objects.filter(trial=trial), request.user, Perm.LOG_CONTACT
    )


def contact_rows(contacts: Any, user: User | AnonymousUser) -> list[dict[str, Any]]:
    """Contacts with what the templates show: may the user still edit it, and until when."""
    now = timezone.now()
    return [
        {
            "contact": contact,
            "until": contact.editable_until(),
            "editable": contact.editable_by(user, now),
            "locked": contact.is_locked(now),
            "components": [c.name for c in contact.components.all()],
            "partners": [Contact.Partner(p).label for p in contact.partners],
        }
        for contact in contacts
    ]


def _initial(request: AuthenticatedHttpRequest, trial: Trial, *, employer: bool) -> dict[str, Any]:
    last = Contact.objects.filter(trial=trial, author=request.user).order_by("-created_at").first()
    initial: dict[str, Any] = {
        "contact_on": timezone.localdate(),
        "mode": Contact.Mode.IN_PERSON,
        "minutes": last.minutes if last else 30,
        "partners": [Contact.Partner.EMPLOYER if employer else Contact.Partner.PARTICIPANT],
        "client_id": new_client_id(),
    }
    if not employer:
        initial["study_id"] = request.GET.get("participant", "").strip()[:30]
    return initial


def _log_page(request: AuthenticatedHttpRequest, trial: Trial, *, employer: bool) -> HttpResponse:
    user = request.user
    sites = permissions.visible_sites(user, trial).order_by("code")
    data = request.POST if request.method == "POST" else None
    initial = _initial(request, trial, employer=employer)
    exposure_warning: dict[str, Any] | None = None
    form: ContactForm | EmployerContactForm = (
        EmployerContactForm(data, trial=trial, sites=sites, initial=initial)
        if employer
        else ContactForm(data, trial=trial, initial=initial)
    )
    if request.method == "POST" and form.is_valid():
        values = dict(form.cleaned_data)
        participant = None
        site = None
        if employer:
            site = values.pop("site")
        else:
            study_id = values.pop("study_id")
            participant = _own_participants(request, trial).filter(study_id=study_id).first()
            if participant is None:
                # The same words whether the id does not exist or belongs to another site.
                form.add_error("study_id", _("None of your participants has this study id."))
        warning = _exposure_warning(request, trial, participant, values)
        if warning is not None and not request.POST.get("confirm_exposure"):
            exposure_warning = warning
        elif participant is not None or employer:
            try:
                contact, created = services.log_contact(
                    trial,
                    actor=request.user,
                    participant=participant,
                    site=site,
                    contact_on=values["contact_on"],
                    mode=values["mode"],
                    minutes=values["minutes"],
                    partners=values["partners"],
                    components=list(values["components"]),
                    note=values["note"],
                    client_id=values.get("client_id"),
                )
            except TrialError as error:
                show_error(form, error)
            else:
                who = participant.study_id if participant else contact.site.code
                if created:
                    messages.success(request, _("Contact with %(who)s logged.") % {"who": who})
                    _report_exposures(request, trial, contact)
                else:
                    messages.info(
                        request, _("This contact was logged already; it was not saved twice.")
                    )
                target = "fidelity:employer_contact" if employer else "fidelity:contacts"
                return redirect(target, trial.code)
    mine = Contact.objects.filter(trial=trial, author=user).for_listing()[:RECENT_CONTACTS]
    context = {
        "trial": trial,
        "form": form,
        "employer": employer,
        "rows": contact_rows(mine, user),
        "exposure_warning": exposure_warning,
        "edit_hours": settings.CONTACT_EDIT_HOURS,
        "see_all": permissions.site_ids(user, trial) is None,
        "can_manage": permissions.has_perm(user, trial, Perm.CONFIGURE_TRIAL),
    }
    return render(request, "fidelity/contact_log.html", context)


@trial_view(Perm.LOG_CONTACT)
@require_http_methods(FORM_METHODS)
def contacts(request: AuthenticatedHttpRequest, trial: Trial) -> HttpResponse:
    """Log a contact with a participant; below it, the user's recent contacts."""
    return _log_page(request, trial, employer=False)


@trial_view(Perm.LOG_CONTACT)
@require_http_methods(FORM_METHODS)
def employer_contact(request: AuthenticatedHttpRequest, trial: Trial) -> HttpResponse:
    """Log a contact with an employer about no single participant (job development)."""
    return _log_page(request, trial, employer=True)


@trial_view(Perm.LOG_CONTACT)
@require_GET
def participant_search(request: AuthenticatedHttpRequest, trial: Trial) -> HttpResponse:
    """Options for the study-id field: the user's own participants whose id contains the text."""
    text = (request.GET.get("study_id") or request.GET.get("q") or "").strip()[:30]
    matches = (
        _own_participants(request, trial)
        .filter(study_id__icontains=text)
        .select_related("site")
        .order_by("study_id")[:SEARCH_RESULTS]
        if text
        else Participant.objects.none()
    )
    return render(request, "fidelity/_contact_participant_options.html", {"participants": matches})


def _month(value: str) -> tuple[dt.date, dt.date] | None:
    match = MONTH.fullmatch(value)
    if not match or not 1 <= int(match.group(2)) <= 12:
        return None
    start = dt.date(int(match.group(1)), int(match.group(2)), 1)
    end = dt.date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return start, end


@trial_view(Perm.LOG_CONTACT)
@require_GET
def contact_list(request: AuthenticatedHttpRequest, trial: Trial) -> HttpResponse:
    """Every contact at the user's sites (all of the trial for a coordinator), 50 a page,
    filtered by site, month and author."""
    contacts_qs = (
        Contact.objects.visible_to(request.user, trial).for_listing().order_by("-contact_on", "-id")
    )
    authors = (
        contacts_qs.order_by()
        .values_list("author_id", "author_name")
        .distinct()
        .order_by("author_name")
    )
    site = request.GET.get("site", "").strip()
    if site:
        contacts_qs = contacts_qs.filter(site__code=site)
    month = request.GET.get("month", "").strip()
    period = _month(month)
    if period:
        contacts_qs = contacts_qs.filter(contact_on__gte=period[0], contact_on__lt=period[1])
    author = request.GET.get("author", "").strip()
    if author.isdigit():
        contacts_qs = contacts_qs.filter(author_id=int(author))
    kind = request.GET.get("kind", "")
    if kind == "employer":
        contacts_qs = contacts_qs.filter(participant__isnull=True)
    elif kind == "participant":
        contacts_qs = contacts_qs.filter(participant__isnull=False)
    totals = contacts_qs.aggregate(minutes=Sum("minutes"))
    page = Paginator(contacts_qs, 50).get_page(request.GET.get("page"))
    context = {
        "trial": trial,
        "page": page,
        "rows": contact_rows(page, request.user),
        "sites": permissions.visible_sites(request.user, trial).order_by("code"),
        "authors": list(authors),
        "site": site,
        "month": month if period else "",
        "author": author,
        "kind": kind,
        "total_minutes": totals["minutes"] or 0,
    }
    return render(request, "fidelity/contact_list.html", context)


@trial_view(Perm.LOG_CONTACT)
@require_http_methods(FORM_METHODS)
def edit_contact(request: AuthenticatedHttpRequest, trial: Trial, contact_id: int) -> HttpResponse:
    """Correct a contact: its author only, within the edit window; then it is locked."""
    contact = get_object_or_404(
        Contact.objects.visible_to(request.user, trial).for_listing(), pk=contact_id
    )
    context: dict[str, Any] = {"trial": trial, "contact": contact}
    try:
        services.ensure_editable(contact, request.user)
    except services.ContactLocked as locked:
        context["locked"] = locked.message
        status = 403 if request.method == "POST" else 200
        return render(request, "fidelity/contact_edit.html", context, status=status)
    initial = {
        "contact_on": contact.contact_on,
        "mode": contact.mode,
        "minutes": contact.minutes,
        "partners": contact.partners,
        "components": list(contact.components.all()),
        "note": contact.note,
    }
    form = ContactFieldsForm(
        request.POST if request.method == "POST" else None, trial=trial, initial=initial
    )
    exposure_warning = None
    if request.method == "POST" and form.is_valid():
        values = dict(form.cleaned_data)
        values["components"] = list(values["components"])
        before = set(
            Exposure.objects.filter(contact=contact, source=Exposure.Source.CONTACT).values_list(
                "component_id", flat=True
            )
        )
        warning = _exposure_warning(request, trial, contact.participant, values)
        if warning is not None and before:
            # Only components not yet recorded as exposures need a second look.
            added = [c.name for c in values["components"] if c.pk not in before]
            warning["components"] = [n for n in warning["components"] if n in added]
            warning = warning if warning["components"] else None
        if warning is not None and not request.POST.get("confirm_exposure"):
            exposure_warning = warning
            context.update(form=form, until=contact.editable_until(), exposure_warning=warning)
            return render(request, "fidelity/contact_edit.html", context)
        try:
            services.edit_contact(contact, actor=request.user, **values)
        except services.ContactLocked as locked:
            context["locked"] = locked.message
            return render(request, "fidelity/contact_edit.html", context, status=403)
        except TrialError as error:
            show_error(form, error)
        else:
            messages.success(request, _("The contact is corrected."))
            _report_exposures(request, trial, contact)
            return redirect("fidelity:contacts", trial.code)
    context.update(form=form, until=contact.editable_until(), exposure_warning=exposure_warning)
    return render(request, "fidelity/contact_edit.html", context)
