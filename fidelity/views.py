"""Pages for the contact log and the contamination records. Access is decided in
trial.permissions; the rules are in fidelity.services and fidelity.contamination."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from fidelity import adaptations as adaptation_services
from fidelity import contamination, services
from fidelity.forms import (
    AdaptationForm,
    ContactFieldsForm,
    ContactForm,
    EmployerContactForm,
    NewAdaptationForm,
    SiteAssignmentForm,
    SiteEventForm,
    SiteEventRemovalForm,
    new_client_id,
)
from fidelity.models import Adaptation, Contact, Exposure
from trial import permissions
from trial.models import Membership, Participant, SiteAssignment, Trial
from trial.permissions import Perm
from trial.services import TrialError
from trial.views import trial_view

FORM_METHODS = ["GET", "POST"]
RECENT_CONTACTS = 15
SEARCH_RESULTS = 20
MONTH = re.compile(r"(\d{4})-(\d{2})")
# The service names the participant; the form asks for the study id.
FORM_FIELD = {"participant": "study_id"}


def _actor(request: HttpRequest) -> User:
    return cast(User, request.user)


def _show_error(form: forms.BaseForm, error: TrialError) -> None:
    """Put a service's refusal next to the field it names, or above the form (also when the
    field is hidden, e.g. a client id, where it could not be seen)."""
    name = FORM_FIELD.get(error.field or "", error.field)
    shown = name in form.fields and not form.fields[name].widget.is_hidden
    form.add_error(name if shown else None, error.message)


def may_learn_arm(request: HttpRequest, trial: Trial) -> bool:
    """Whether the user may be told that a participant is in a control arm: they may see
    allocations, and arm names (the blinding rule, ``trial.permissions``). A contamination
    warning or exposure exists only for control participants, so it tells the arm."""
    user = request.user
    return permissions.has_perm(user, trial, Perm.VIEW_ALLOCATION) and permissions.sees_arm_names(
        user, trial
    )


def _exposure_warning(
    request: HttpRequest, trial: Trial, participant: Participant | None, values: dict[str, Any]
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


def _report_exposures(request: HttpRequest, trial: Trial, contact: Contact) -> None:
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


def _own_participants(request: HttpRequest, trial: Trial) -> QuerySet[Participant]:
    """The participants the user may log contacts for: at their sites only."""
    return permissions.scope_participants(
        Participant.objects.filter(trial=trial), request.user, Perm.LOG_CONTACT
    )


def visible_contacts(request: HttpRequest, trial: Trial) -> QuerySet[Contact]:
    """Contacts at the user's sites (a participant's contact is at the participant's site)."""
    return (
        Contact.objects.filter(trial=trial, site__in=permissions.visible_sites(request.user, trial))
        .select_related("site", "participant")
        .prefetch_related("components")
    )


def contact_rows(contacts: Any, user: Any) -> list[dict[str, Any]]:
    """Contacts with what the templates show: may the user still edit it, and until when."""
    now = timezone.now()
    rows = []
    for contact in contacts:
        until = contact.editable_until()
        rows.append(
            {
                "contact": contact,
                "until": until,
                "editable": contact.author_id == user.pk and now <= until,
                "locked": now > until,
                "components": [c.name for c in contact.components.all()],
                "partners": [Contact.Partner(p).label for p in contact.partners],
            }
        )
    return rows


def _initial(request: HttpRequest, trial: Trial, *, employer: bool) -> dict[str, Any]:
    last = (
        Contact.objects.filter(trial=trial, author=_actor(request)).order_by("-created_at").first()
    )
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


def _log_page(request: HttpRequest, trial: Trial, *, employer: bool) -> HttpResponse:
    user = _actor(request)
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
                    actor=_actor(request),
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
                _show_error(form, error)
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
    mine = (
        Contact.objects.filter(trial=trial, author=user)
        .select_related("site", "participant")
        .prefetch_related("components")[:RECENT_CONTACTS]
    )
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
def contacts(request: HttpRequest, trial: Trial) -> HttpResponse:
    """Log a contact with a participant; below it, the user's recent contacts."""
    return _log_page(request, trial, employer=False)


@trial_view(Perm.LOG_CONTACT)
@require_http_methods(FORM_METHODS)
def employer_contact(request: HttpRequest, trial: Trial) -> HttpResponse:
    """Log a contact with an employer about no single participant (job development)."""
    return _log_page(request, trial, employer=True)


@trial_view(Perm.LOG_CONTACT)
@require_GET
def participant_search(request: HttpRequest, trial: Trial) -> HttpResponse:
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
def contact_list(request: HttpRequest, trial: Trial) -> HttpResponse:
    """Every contact at the user's sites (all of the trial for a coordinator), 50 a page,
    filtered by site, month and author."""
    contacts_qs = visible_contacts(request, trial).order_by("-contact_on", "-id")
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
def edit_contact(request: HttpRequest, trial: Trial, contact_id: int) -> HttpResponse:
    """Correct a contact: its author only, within the edit window; then it is locked."""
    contact = get_object_or_404(visible_contacts(request, trial), pk=contact_id)
    context: dict[str, Any] = {"trial": trial, "contact": contact}
    try:
        services.ensure_editable(contact, _actor(request))
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
            services.edit_contact(contact, actor=_actor(request), **values)
        except services.ContactLocked as locked:
            context["locked"] = locked.message
            return render(request, "fidelity/contact_edit.html", context, status=403)
        except TrialError as error:
            _show_error(form, error)
        else:
            messages.success(request, _("The contact is corrected."))
            _report_exposures(request, trial, contact)
            return redirect("fidelity:contacts", trial.code)
    context.update(form=form, until=contact.editable_until(), exposure_warning=exposure_warning)
    return render(request, "fidelity/contact_edit.html", context)


# --- contamination (coordinators) ------------------------------------------------------------


@trial_view(Perm.CONFIGURE_TRIAL)
@require_GET
def exposures(request: HttpRequest, trial: Trial) -> HttpResponse:
    """Every contamination exposure of the trial, 50 a page, filtered by source and site."""
    queryset = (
        Exposure.objects.filter(trial=trial)
        .select_related("participant", "site", "component", "contact")
        .order_by("-exposed_on", "-id")
    )
    source = request.GET.get("source", "")
    if source in Exposure.Source.values:
        queryset = queryset.filter(source=source)
    site = request.GET.get("site", "").strip()
    if site:
        queryset = queryset.filter(Q(site__code=site) | Q(participant__site__code=site))
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    context = {
        "trial": trial,
        "page": page,
        "source": source,
        "site": site,
        "sources": Exposure.Source.choices,
        "sites": trial.sites.order_by("code"),
        "exposed_participants": Exposure.objects.filter(
            trial=trial,
            participant__isnull=False,
            source__in=contamination.RECEIVED_SOURCES,
        )
        .values("participant")
        .distinct()
        .count(),
        "risk_contacts": Contact.objects.filter(trial=trial, contamination_risk=True).count(),
    }
    return render(request, "fidelity/exposure_list.html", context)


@trial_view(Perm.CONFIGURE_TRIAL)
@require_http_methods(FORM_METHODS)
def site_events(request: HttpRequest, trial: Trial) -> HttpResponse:
    """Record a site-level event at a control site; below it, the events recorded so far."""
    form = SiteEventForm(
        request.POST if request.method == "POST" else None,
        trial=trial,
        initial={"occurred_on": timezone.localdate(), "client_id": new_client_id()},
    )
    if request.method == "POST" and form.is_valid():
        try:
            contamination.record_site_event(
                trial,
                actor=_actor(request),
                site=form.cleaned_data["site"],
                occurred_on=form.cleaned_data["occurred_on"],
                components=list(form.cleaned_data["components"]),
                note=form.cleaned_data["note"],
                client_id=form.cleaned_data["client_id"],
            )
        except TrialError as error:
            _show_error(form, error)
        else:
            messages.success(request, _("The site-level event is recorded."))
            return redirect("fidelity:site_events", trial.code)
    events = (
        Exposure.objects.filter(trial=trial, source=Exposure.Source.SITE_EVENT)
        .select_related("site", "component")
        .order_by("-exposed_on", "-id")
    )
    context = {"trial": trial, "form": form, "events": events}
    return render(request, "fidelity/site_events.html", context)


@trial_view(Perm.CONFIGURE_TRIAL)
@require_http_methods(FORM_METHODS)
def remove_site_event(request: HttpRequest, trial: Trial, exposure_id: int) -> HttpResponse:
    """Remove a site-level event entered in error, with the reason (audited)."""
    event = get_object_or_404(
        Exposure.objects.select_related("site", "component"),
        pk=exposure_id,
        trial=trial,
        source=Exposure.Source.SITE_EVENT,
    )
    entries = contamination.event_entries(event)
    form = SiteEventRemovalForm(
        request.POST if request.method == "POST" else None, entries=len(entries)
    )
    if request.method == "POST" and form.is_valid():
        try:
            removed = contamination.remove_site_event(
                event,
                reason=form.cleaned_data["reason"],
                actor=_actor(request),
                whole_event=bool(form.cleaned_data.get("whole_event")),
            )
        except TrialError as error:
            _show_error(form, error)
        else:
            messages.success(
                request,
                ngettext(
                    "The entry is removed; the audit trail keeps it and the reason.",
                    "The %(count)d entries are removed; the audit trail keeps them and the reason.",
                    removed,
                )
                % {"count": removed},
            )
            return redirect("fidelity:site_events", trial.code)
    context = {"trial": trial, "event": event, "entries": entries, "form": form}
    return render(request, "fidelity/site_event_remove.html", context)


@trial_view(Perm.MANAGE_MEMBERS)
@require_GET
def staff(request: HttpRequest, trial: Trial) -> HttpResponse:
    """The trial's caseworkers and coordinators with their dated site assignments."""
    memberships = (
        Membership.objects.filter(
            trial=trial, role__in=[Membership.Role.CASEWORKER, Membership.Role.COORDINATOR]
        )
        .select_related("user")
        .prefetch_related("sites", "assignments__site")
        .order_by("user__username")
    )
    since = {site.pk: contamination.intervention_since(site) for site in trial.sites.all()}
    rows = [
        {
            "membership": m,
            "assignments": [
                {"assignment": a, "intervention_since": since.get(a.site_id)}
                for a in m.assignments.all()
            ],
        }
        for m in memberships
    ]
    return render(request, "fidelity/exposure_staff.html", {"trial": trial, "rows": rows})


def _report_reflagged(request: HttpRequest, changed: int) -> None:
    if changed:
        messages.info(
            request,
            ngettext(
                "The contamination-risk flag of %(count)d contact this person logged changed.",
                "The contamination-risk flags of %(count)d contacts this person logged changed.",
                changed,
            )
            % {"count": changed},
        )


@trial_view(Perm.MANAGE_MEMBERS)
@require_http_methods(FORM_METHODS)
def staff_member(request: HttpRequest, trial: Trial, membership_id: int) -> HttpResponse:
    """Add to one person's dated site assignments (where they worked, and when)."""
    membership = get_object_or_404(
        Membership.objects.select_related("user", "trial"), pk=membership_id, trial=trial
    )
    form = SiteAssignmentForm(request.POST if request.method == "POST" else None, trial=trial)
    if request.method == "POST" and form.is_valid():
        try:
            _assignment, reflagged = contamination.add_site_assignment(
                membership, actor=_actor(request), **form.cleaned_data
            )
        except TrialError as error:
            _show_error(form, error)
        else:
            messages.success(request, _("The site assignment is added."))
            _report_reflagged(request, reflagged)
            return redirect("fidelity:staff_member", trial.code, membership.pk)
    since = {site.pk: contamination.intervention_since(site) for site in trial.sites.all()}
    assignments = [
        {"assignment": a, "intervention_since": since.get(a.site_id)}
        for a in membership.assignments.select_related("site").order_by("starts_on")
    ]
    context = {
        "trial": trial,
        "membership": membership,
        "form": form,
        "assignments": assignments,
    }
    return render(request, "fidelity/exposure_staff_member.html", context)


@trial_view(Perm.MANAGE_MEMBERS)
@require_POST
def remove_assignment(
    request: HttpRequest, trial: Trial, membership_id: int, assignment_id: int
) -> HttpResponse:
    assignment = get_object_or_404(
        SiteAssignment.objects.select_related("membership__trial", "site"),
        pk=assignment_id,
        membership_id=membership_id,
        membership__trial=trial,
    )
    reflagged = contamination.remove_site_assignment(assignment, actor=_actor(request))
    messages.success(request, _("The site assignment is removed."))
    _report_reflagged(request, reflagged)
    return redirect("fidelity:staff_member", trial.code, membership_id)


# Adaptations


def _visible_adaptations(request: HttpRequest, trial: Trial) -> QuerySet[Adaptation]:
    """Trial-wide adaptations and those of the user's sites."""
    sites = permissions.visible_sites(request.user, trial)
    return (
        Adaptation.objects.filter(trial=trial)
        .filter(Q(site__isnull=True) | Q(site__in=sites))
        .select_related("site", "component")
        .order_by("-adapted_on", "-id")
    )


@trial_view(Perm.VIEW_ALLOCATION)
@require_http_methods(FORM_METHODS)
def adaptations(request: HttpRequest, trial: Trial) -> HttpResponse:
    """The adaptations noted so far; coordinators also get the form to note one."""
    can_edit = permissions.has_perm(request.user, trial, Perm.CONFIGURE_TRIAL)
    if request.method == "POST" and not can_edit:
        raise PermissionDenied
    form = None
    if can_edit:
        form = NewAdaptationForm(
            request.POST if request.method == "POST" else None,
            trial=trial,
            initial={"adapted_on": timezone.localdate(), "client_id": new_client_id()},
        )
    if request.method == "POST" and form is not None and form.is_valid():
        try:
            adaptation_services.record_adaptation(trial, actor=_actor(request), **form.cleaned_data)
        except TrialError as error:
            _show_error(form, error)
        else:
            messages.success(request, _("The adaptation is recorded."))
            return redirect("fidelity:adaptations", trial.code)
    context = {
        "trial": trial,
        "form": form,
        "adaptations": _visible_adaptations(request, trial),
        "can_edit": can_edit,
    }
    return render(request, "fidelity/adaptations.html", context)


@trial_view(Perm.CONFIGURE_TRIAL)
@require_http_methods(FORM_METHODS)
def edit_adaptation(request: HttpRequest, trial: Trial, adaptation_id: int) -> HttpResponse:
    """Correct an adaptation; the audit trail keeps what it said before."""
    adaptation = get_object_or_404(_visible_adaptations(request, trial), pk=adaptation_id)
    initial = {
        "site": adaptation.site,
        "adapted_on": adaptation.adapted_on,
        "component": adaptation.component,
        "description": adaptation.description,
    }
    form = AdaptationForm(
        request.POST if request.method == "POST" else None, trial=trial, initial=initial
    )
    if request.method == "POST" and form.is_valid():
        try:
            adaptation_services.edit_adaptation(
                adaptation, actor=_actor(request), **form.cleaned_data
            )
        except TrialError as error:
            _show_error(form, error)
        else:
            messages.success(request, _("The adaptation is corrected."))
            return redirect("fidelity:adaptations", trial.code)
    context = {"trial": trial, "form": form, "adaptation": adaptation}
    return render(request, "fidelity/adaptation_edit.html", context)
