"""The one permission layer: who may see and do what, in which trial and at which sites.

Every page, API view, admin page and download asks here. Helpers return the object or raise
``Http404`` when the user has no membership in the trial or the object lies outside their sites,
so an outsider cannot learn that an id exists. A member who lacks a capability gets
``PermissionDenied`` (403): they already know the trial exists.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, TypeVar

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet, prefetch_related_objects
from django.http import Http404, HttpRequest
from rest_framework.request import Request

from trial.models import Membership, Participant, Site, Trial

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser
    from django.contrib.auth.models import User as AuthUser
    from django_htmx.middleware import HtmxDetails

    User = AuthUser | AnonymousUser

# A participant queryset, or its subclass ParticipantQuerySet, scoped keeps its type.
ParticipantsT = TypeVar("ParticipantsT", bound=QuerySet[Participant])


class AuthenticatedHttpRequest(HttpRequest):
    """For the type checker: the request of a view behind ``login_required`` (or
    ``trial_view``), whose user is signed in; django-htmx's middleware sets ``htmx`` on every
    request."""

    user: AuthUser
    htmx: HtmxDetails


class AuthenticatedRequest(Request):
    """For the type checker: an API request that passed ``IsAuthenticated`` (the default
    permission class), so its user is signed in."""

    user: AuthUser


class Perm(StrEnum):
    VIEW_TRIAL = "view_trial"
    VIEW_DASHBOARD = "view_dashboard"
    CONFIGURE_TRIAL = "configure_trial"
    MANAGE_MEMBERS = "manage_members"
    VIEW_PARTICIPANTS = "view_participants"
    ENROL = "enrol"
    RANDOMISE = "randomise"
    CONFIGURE_RANDOMISATION = "configure_randomisation"
    VIEW_ALLOCATION = "view_allocation"
    # Derived, never granted by a role table: whether arm names (not only codes) may be shown.
    # The one blinding rule; see ``perms_for`` and docs/security.md "Blinding".
    VIEW_ARM_NAMES = "view_arm_names"
    UNBLIND_ANALYSIS = "unblind_analysis"
    VIEW_SEALED_LIST = "view_sealed_list"
    UNBLIND_EMERGENCY = "unblind_emergency"
    LOG_CONTACT = "log_contact"
    RECORD_ASSESSMENT = "record_assessment"
    REVIEW_FIDELITY = "review_fidelity"
    IMPORT_DATA = "import_data"
    VIEW_AUDIT = "view_audit"
    ORDER_REPORT = "order_report"
    DOWNLOAD_REPORT = "download_report"
    LOCK_ANALYSIS_PLAN = "lock_analysis_plan"
    DEFINE_INSTRUMENTS = "define_instruments"
    KEEP_UNIT_COSTS = "keep_unit_costs"
    # Consent texts, re-consent requests and the signed consent PDFs (surveys/consent).
    MANAGE_CONSENT = "manage_consent"


Role = Membership.Role

ROLE_PERMS: dict[str, frozenset[Perm]] = {
    Role.COORDINATOR: frozenset(
        {
            Perm.VIEW_TRIAL,
            Perm.VIEW_DASHBOARD,
            Perm.CONFIGURE_TRIAL,
            Perm.MANAGE_MEMBERS,
            Perm.VIEW_PARTICIPANTS,
            Perm.ENROL,
            Perm.RANDOMISE,
            Perm.CONFIGURE_RANDOMISATION,
            Perm.VIEW_ALLOCATION,
            Perm.UNBLIND_EMERGENCY,
            Perm.UNBLIND_ANALYSIS,
            Perm.LOG_CONTACT,
            Perm.RECORD_ASSESSMENT,
            Perm.REVIEW_FIDELITY,
            Perm.IMPORT_DATA,
            Perm.VIEW_AUDIT,
            Perm.ORDER_REPORT,
            Perm.DOWNLOAD_REPORT,
            Perm.DEFINE_INSTRUMENTS,
            Perm.KEEP_UNIT_COSTS,
            Perm.MANAGE_CONSENT,
        }
    ),
    # Caseworkers deliver the intervention, so they know the arm; they see only their sites.
    Role.CASEWORKER: frozenset(
        {
            Perm.VIEW_TRIAL,
            Perm.VIEW_PARTICIPANTS,
            Perm.VIEW_ALLOCATION,
            Perm.LOG_CONTACT,
            Perm.RECORD_ASSESSMENT,
        }
    ),
    Role.FIDELITY_REVIEWER: frozenset(
        {Perm.VIEW_TRIAL, Perm.VIEW_ALLOCATION, Perm.REVIEW_FIDELITY}
    ),
    # Statisticians work blind to arm labels unless designated unblinded (see perms_for).
    Role.STATISTICIAN: frozenset(
        {
            Perm.VIEW_TRIAL,
            Perm.VIEW_DASHBOARD,
            Perm.VIEW_PARTICIPANTS,
            Perm.CONFIGURE_RANDOMISATION,
            Perm.ORDER_REPORT,
            Perm.DOWNLOAD_REPORT,
            Perm.LOCK_ANALYSIS_PLAN,
        }
    ),
    Role.DATA_MANAGER: frozenset(
        {
            Perm.VIEW_TRIAL,
            Perm.VIEW_DASHBOARD,
            Perm.VIEW_PARTICIPANTS,
            Perm.VIEW_ALLOCATION,
            Perm.IMPORT_DATA,
            Perm.VIEW_AUDIT,
            Perm.DEFINE_INSTRUMENTS,
        }
    ),
    Role.MONITOR: frozenset(
        {
            Perm.VIEW_TRIAL,
            Perm.VIEW_DASHBOARD,
            Perm.VIEW_PARTICIPANTS,
            Perm.VIEW_ALLOCATION,
            Perm.VIEW_AUDIT,
        }
    ),
}
UNBLINDED_EXTRA = frozenset({Perm.VIEW_ALLOCATION, Perm.VIEW_SEALED_LIST})
SITE_SCOPED_ROLES = frozenset({Role.CASEWORKER})

# Capabilities that reveal the allocation sequence or let data leave the system. Whoever holds
# one of them in any trial must sign in with a second factor (TOTP) when TWO_FACTOR_REQUIRED is
# on, and a web session not verified by one is refused them here, whatever the view.
TWO_FACTOR_PERMS = frozenset(
    {
        Perm.VIEW_SEALED_LIST,
        Perm.UNBLIND_EMERGENCY,
        Perm.UNBLIND_ANALYSIS,
        Perm.DOWNLOAD_REPORT,
        # Signed consents carry the participant's typed name.
        Perm.MANAGE_CONSENT,
    }
)


def perms_for(membership: Membership | None) -> frozenset[Perm]:
    """What a membership may do. Arm names (``VIEW_ARM_NAMES``) follow one rule: whoever may
    see allocations may see the names; everyone else sees arm codes only, until the trial's
    analysis is unblinded (``Trial.analysis_unblinded_at``, set only by the audited step
    ``reports.services.unblind_analysis``). Every page, API answer, export, report and message
    that could name an arm asks for this permission."""
    if membership is None:
        return frozenset()
    perms = ROLE_PERMS[membership.role]
    if membership.unblinded:
        perms = perms | UNBLINDED_EXTRA
    if Perm.VIEW_ALLOCATION in perms or membership.trial.analysis_unblinded_at is not None:
        perms = perms | {Perm.VIEW_ARM_NAMES}
    return perms


def sees_arm_names(user: User, trial: Trial) -> bool:
    """The blinding rule: True if arm names may be shown to ``user`` in ``trial``."""
    return has_perm(user, trial, Perm.VIEW_ARM_NAMES)


def _memberships(user: User) -> dict[int, Membership]:
    """The user's memberships by trial id, cached on the user object for one request."""
    if not user.is_authenticated or not user.is_active:
        return {}
    cache: dict[int, Membership] | None = getattr(user, "_trial_memberships", None)
    if cache is None:
        found = list(Membership.objects.filter(user=user).select_related("trial"))
        # Only site-scoped roles need their sites: no second query for anyone else.
        prefetch_related_objects([m for m in found if m.role in SITE_SCOPED_ROLES], "sites")
        cache = {m.trial_id: m for m in found}
        user._trial_memberships = cache  # type: ignore[attr-defined]  # a per-request cache
    return cache


def membership(user: User, trial: Trial) -> Membership | None:
    return _memberships(user).get(trial.pk)


def has_perm(user: User, trial: Trial, perm: Perm) -> bool:
    if perm not in perms_for(membership(user, trial)):
        return False
    return perm not in TWO_FACTOR_PERMS or two_factor_satisfied(user)


def requires_two_factor(user: User) -> bool:
    """Whether the user must sign in with a second factor: they hold a capability in
    ``TWO_FACTOR_PERMS`` in some trial, or may use the admin site, and enforcement is on."""
    if not settings.TWO_FACTOR_REQUIRED or not user.is_authenticated:
        return False
    if user.is_staff:
        return True
    return any(perms_for(m) & TWO_FACTOR_PERMS for m in _memberships(user).values())


def two_factor_satisfied(user: User) -> bool:
    """False only for a web session that must be, and is not, verified by a second factor.

    django-otp's middleware gives every user of a web request ``is_verified()``. Users without
    it come from elsewhere: management commands and tasks (trusted operators), and API token
    authentication, which refuses a token issued without a second factor to a user who must
    use one (accounts/authentication.py), so a token that gets this far satisfies it.
    """
    is_verified = getattr(user, "is_verified", None)
    if is_verified is None or is_verified():
        return True
    return not requires_two_factor(user)


def visible_trials(user: User, perm: Perm = Perm.VIEW_TRIAL) -> QuerySet[Trial]:
    ids = [tid for tid, m in _memberships(user).items() if perm in perms_for(m)]
    return Trial.objects.filter(pk__in=ids)


def site_ids(user: User, trial: Trial) -> set[int] | None:
    """Sites the user is limited to in this trial; None means every site of the trial."""
    m = membership(user, trial)
    if m is None:
        return set()
    if m.role in SITE_SCOPED_ROLES:
        return {site.pk for site in m.sites.all()}
    return None


def visible_sites(user: User, trial: Trial) -> QuerySet[Site]:
    ids = site_ids(user, trial)
    sites = trial.sites.all()
    return sites if ids is None else sites.filter(pk__in=ids)


def scope_participants(
    queryset: ParticipantsT, user: User, perm: Perm = Perm.VIEW_PARTICIPANTS
) -> ParticipantsT:
    """Restrict a participant queryset to what the user may see, across all their trials."""
    condition = Q(pk__in=[])
    for trial_id, m in _memberships(user).items():
        if perm not in perms_for(m):
            continue
        if m.role in SITE_SCOPED_ROLES:
            condition |= Q(trial_id=trial_id, site_id__in=[s.pk for s in m.sites.all()])
        else:
            condition |= Q(trial_id=trial_id)
    return queryset.filter(condition)


def get_trial(user: User, code: str, perm: Perm = Perm.VIEW_TRIAL) -> Trial:
    """The trial with this code if the user is a member (else 404) with ``perm`` (else 403).

    The trial comes with the user's memberships, so this costs no query of its own.
    """
    trial = next((m.trial for m in _memberships(user).values() if m.trial.code == code), None)
    if trial is None:
        raise Http404
    require(user, trial, perm)
    return trial


def require(user: User, trial: Trial, perm: Perm) -> None:
    if not has_perm(user, trial, perm):
        raise PermissionDenied


def get_participant(
    user: User, trial: Trial, study_id: str, perm: Perm = Perm.VIEW_PARTICIPANTS
) -> Participant:
    """A participant inside the user's sites (else 404), if the user holds ``perm`` (else 403)."""
    participant = (
        scope_participants(Participant.objects.filter(trial=trial), user, Perm.VIEW_TRIAL)
        .select_related("site", "trial")
        .filter(study_id=study_id)
        .first()
    )
    if participant is None:
        raise Http404
    require(user, trial, perm)
    return participant


class Landing(StrEnum):
    """Where a member lands on opening a trial (``trial.views.dashboard``, the trial's URL)."""

    DASHBOARD = "dashboard"
    """The trial's figures: recruitment and follow-up (those who run or oversee the trial)."""
    OWN_WORK = "own_work"
    """Their own work, made of the landing panels their permissions give: a caseworker's
    visits due and recent contacts, a fidelity reviewer's reviews, a statistician's analysis
    plan and reports. The figures stay one menu entry away (``trial:statistics``)."""


ROLE_LANDING: dict[str, Landing] = {
    Role.COORDINATOR: Landing.DASHBOARD,
    Role.DATA_MANAGER: Landing.DASHBOARD,
    Role.MONITOR: Landing.DASHBOARD,
    Role.CASEWORKER: Landing.OWN_WORK,
    Role.FIDELITY_REVIEWER: Landing.OWN_WORK,
    Role.STATISTICIAN: Landing.OWN_WORK,
}


def landing(user: User, trial: Trial) -> Landing:
    """The member's landing page in ``trial``, by their role (``ROLE_LANDING``)."""
    m = membership(user, trial)
    return ROLE_LANDING[m.role] if m is not None else Landing.DASHBOARD
