"""Pages for the contamination records (coordinators): the exposure list, site-level events and
the staff's dated site assignments. Access is decided in ``trial.permissions``; the rules are
in ``fidelity.contamination.services``."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from fidelity.contamination import services
from fidelity.contamination.arms import intervention_since
from fidelity.contamination.forms import SiteAssignmentForm, SiteEventForm, SiteEventRemovalForm
from fidelity.forms import new_client_id, show_error
from fidelity.models import Contact, Exposure
from trial.models import Membership, SiteAssignment, Trial
from trial.permissions import AuthenticatedHttpRequest, Perm
from trial.services import TrialError
from trial.views import trial_view

FORM_METHODS = ["GET", "POST"]


@trial_view(Perm.CONFIGURE_TRIAL)
@require_GET
def exposures(request: AuthenticatedHttpRequest, trial: Trial) -> HttpResponse:
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
        "exposed_participants": Exposure.objects.received()
        .filter(trial=trial, participant__isnull=False)
        .values("participant")
        .distinct()
        .count(),
        "risk_contacts": Contact.objects.filter(trial=trial, contamination_risk=True).count(),
    }
    return render(request, "fidelity/exposure_list.html", context)


@trial_view(Perm.CONFIGURE_TRIAL)
@require_http_methods(FORM_METHODS)
def site_events(request: AuthenticatedHttpRequest, trial: Trial) -> HttpResponse:
    """Record a site-level event at a control site; below it, the events recorded so far."""
    form = SiteEventForm(
        request.POST if request.method == "POST" else None,
        trial=trial,
        initial={"occurred_on": timezone.localdate(), "client_id": new_client_id()},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.record_site_event(
                trial,
                actor=request.user,
                site=form.cleaned_data["site"],
                occurred_on=form.cleaned_data["occurred_on"],
                components=list(form.cleaned_data["components"]),
                note=form.cleaned_data["note"],
                client_id=form.cleaned_data["client_id"],
            )
        except TrialError as error:
            show_error(form, error)
        else:
            messages.success(request, _("The site-level event is recorded."))
            return redirect("fidelity:site_events", trial.code)
    events = (
        Exposure.objects.site_events()
        .filter(trial=trial)
        .select_related("site", "component")
        .order_by("-exposed_on", "-id")
    )
    context = {"trial": trial, "form": form, "events": events}
    return render(request, "fidelity/site_events.html", context)


@trial_view(Perm.CONFIGURE_TRIAL)
@require_http_methods(FORM_METHODS)
def remove_site_event(
    request: AuthenticatedHttpRequest, trial: Trial, exposure_id: int
) -> HttpResponse:
    """Remove a site-level event entered in error, with the reason (audited)."""
    event = get_object_or_404(
        Exposure.objects.select_related("site", "component"),
        pk=exposure_id,
        trial=trial,
        source=Exposure.Source.SITE_EVENT,
    )
    entries = event.event_entries()
    form = SiteEventRemovalForm(
        request.POST if request.method == "POST" else None, entries=len(entries)
    )
    if request.method == "POST" and form.is_valid():
        try:
            removed = services.remove_site_event(
                event,
                reason=form.cleaned_data["reason"],
                actor=request.user,
                whole_event=bool(form.cleaned_data.get("whole_event")),
            )
        except TrialError as error:
            show_error(form, error)
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
def staff(request: AuthenticatedHttpRequest, trial: Trial) -> HttpResponse:
    """The trial's caseworkers and coordinators with their dated site assignments."""
    memberships = (
        Membership.objects.filter(
            trial=trial, role__in=[Membership.Role.CASEWORKER, Membership.Role.COORDINATOR]
        )
        .select_related("user")
        .prefetch_related("sites", "assignments__site")
        .order_by("user__username")
    )
    since = {site.pk: intervention_since(site) for site in trial.sites.all()}
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
def staff_member(
    request: AuthenticatedHttpRequest, trial: Trial, membership_id: int
) -> HttpResponse:
    """Add to one person's dated site assignments (where they worked, and when)."""
    membership = get_object_or_404(
        Membership.objects.select_related("user", "trial"), pk=membership_id, trial=trial
    )
    form = SiteAssignmentForm(request.POST if request.method == "POST" else None, trial=trial)
    if request.method == "POST" and form.is_valid():
        try:
            _assignment, reflagged = services.add_site_assignment(
                membership, actor=request.user, **form.cleaned_data
            )
        except TrialError as error:
            show_error(form, error)
        else:
            messages.success(request, _("The site assignment is added."))
            _report_reflagged(request, reflagged)
            return redirect("fidelity:staff_member", trial.code, membership.pk)
    since = {site.pk: intervention_since(site) for site in trial.sites.all()}
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
    request: AuthenticatedHttpRequest, trial: Trial, membership_id: int, assignment_id: int
) -> HttpResponse:
    assignment = get_object_or_404(
        SiteAssignment.objects.select_related("membership__trial", "site"),
        pk=assignment_id,
        membership_id=membership_id,
        membership__trial=trial,
    )
    reflagged = services.remove_site_assignment(assignment, actor=request.user)
    messages.success(request, _("The site assignment is removed."))
    _report_reflagged(request, reflagged)
    return redirect("fidelity:staff_member", trial.code, membership_id)
