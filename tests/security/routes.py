"""The table behind the authorisation matrix: what every URL of the project needs.

One ``Route`` per URL name. It says how to fill the URL's arguments (which kind of object each
names) and, per HTTP method, the capabilities (``Perm``) the request needs. The expected answer
for each persona is *computed* from ``permissions.perms_for`` and the persona's sites, never
listed here, so the matrix checks the views against the permission table.

A new URL pattern without a row here fails ``test_every_url_is_in_the_matrix``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from trial.permissions import Perm

# Object kinds a URL argument can name: (lives at a site, is an id that must not leak, a value
# that names nothing). Non-identifiers ("allocations", "pdf", version 1) are the same words in
# every trial, so they have no "other trial" variant.
KINDS: dict[str, tuple[bool, bool, Any]] = {
    "participant": (True, True, "NOPE-000000"),
    "unallocated": (True, True, "NOPE-000000"),
    # Allocation sequence numbers count per trial: 1 exists in every trial, so not an id.
    "allocation": (True, False, 999_999),
    "visit": (True, True, 999_999_999),
    "assessment": (True, True, 999_999_999),
    "contact": (True, True, 999_999_999),
    "review": (True, True, 999_999_999),
    "site": (True, True, 999_999_999),
    "adaptation": (True, True, 999_999_999),
    "arm": (False, True, 999_999_999),
    "membership": (False, True, 999_999_999),
    "assignment": (False, True, 999_999_999),
    # Site-level events are a coordinator's, across the trial's sites.
    "site_event": (False, True, 999_999_999),
    "reason": (False, True, 999_999_999),
    "covariate": (False, True, 999_999_999),
    "visit_definition": (False, True, 999_999_999),
    "simulation": (False, True, 999_999_999),
    "report": (False, True, 999_999_999),
    "scale": (False, True, 999_999_999),
    "jem": (False, True, 999_999_999),
    "spell_import": (False, True, 999_999_999),
    "trial_import": (False, True, 999_999_999),
    "flag": (False, True, 999_999_999),
    "state": (False, True, 999_999_999),
    "unit_cost": (False, True, 999_999_999),
    "item": (False, False, 999),
    # Instruments are named by code, which differs between the two trials' instruments; their
    # items and scales by position (1, 2, …), the same numbers in every instrument.
    "instrument": (False, True, "no-such-instrument"),
    "instrument_item": (False, False, 999),
    "instrument_scale": (False, False, 999),
    "plan_version": (False, False, 999),
    "export": (False, False, "nope"),
    "survey_link": (False, False, "0" * 64),
    "consent_text": (False, True, 999_999_999),
    # A signed consent belongs to a participant, who lives at a site.
    "consent_record": (True, True, 999_999_999),
    "which": (False, False, "nope"),
}


@dataclass(frozen=True)
class Need:
    """What one HTTP method of a route needs, and what an allowed request gets.

    ``perms``: all of these (besides membership of the trial); ``any_of``: at least one of
    these too; ``object_perms``: these as well, asked only once the object is found (so an
    object out of scope answers 404 before they are looked at). ``status``: the answer when
    allowed (None: anything but 401/403/404/5xx, for writes with an empty body).
    ``author_only``: a row rule, only the object's author may.
    ``trial_check``: False when the answer comes before the trial is looked at;
    ``object_check``: False when it comes after the trial but before the object.
    """

    perms: frozenset[Perm] = frozenset()
    any_of: frozenset[Perm] = frozenset()
    status: int | None = 200
    author_only: bool = False
    trial_check: bool = True
    object_check: bool = True
    object_perms: frozenset[Perm] = frozenset()

    def allows(self, perms: frozenset[Perm]) -> bool:
        if not self.perms <= perms:
            return False
        return not self.any_of or bool(self.any_of & perms)


def read(*perms: Perm, status: int = 200, any_of: tuple[Perm, ...] = ()) -> Need:
    return Need(frozenset(perms), frozenset(any_of), status)


def write(*perms: Perm, any_of: tuple[Perm, ...] = (), author_only: bool = False) -> Need:
    return Need(frozenset(perms), frozenset(any_of), None, author_only)


def post_only(*perms: Perm) -> Need:
    """GET of a POST-only page: the trial check first (404/403), then 405 whatever object the
    URL names (the object is looked up only for a POST)."""
    return Need(frozenset(perms), status=405, object_check=False)


@dataclass(frozen=True)
class Route:
    """``audience``: "trial" (the code in the URL decides), "login" (any signed-in user),
    "public" (anyone), "model_perm" (a Django model permission, ``model_perm``).
    ``prepare`` puts the trial in the state the page needs (run inside the test's transaction).
    ``api_405``: a DRF view, whose missing methods answer 405 before any trial check.
    """

    name: str
    methods: dict[str, Need]
    fill: dict[str, str] = field(default_factory=dict)
    audience: str = "trial"
    model_perm: str = ""
    prepare: Callable[[Any], None] | None = None

    @property
    def is_api(self) -> bool:
        return self.name.startswith("v1:")


P = Perm
G = "GET"
PO = "POST"


def _lock_plan(world: Any) -> None:
    from django.utils import timezone

    from reports.models import AnalysisPlan

    if not AnalysisPlan.objects.filter(status=AnalysisPlan.Status.LOCKED).exists():
        AnalysisPlan.objects.update(
            status=AnalysisPlan.Status.LOCKED, locked_at=timezone.now(), content_hash="0" * 64
        )


def setup(name: str, perm: Perm = P.CONFIGURE_TRIAL, fill: dict[str, str] | None = None) -> Route:
    return Route(f"trial:setup:{name}", {G: read(perm), PO: write(perm)}, fill or {})


def instruments(name: str, methods: str = "GET POST", fill: dict[str, str] | None = None) -> Route:
    """A page of instrument definition: every method needs DEFINE_INSTRUMENTS; "post_only"
    pages answer GET with 405 after the trial check."""
    need: dict[str, Need] = {}
    if "post_only" in methods:
        need[G] = post_only(P.DEFINE_INSTRUMENTS)
        need[PO] = write(P.DEFINE_INSTRUMENTS)
    else:
        if "GET" in methods:
            need[G] = read(P.DEFINE_INSTRUMENTS)
        if "POST" in methods:
            need[PO] = write(P.DEFINE_INSTRUMENTS)
    return Route(f"instruments_setup:{name}", need, fill or {})


INSTRUMENT = {"instrument": "instrument"}
INSTRUMENT_ITEM = {"instrument": "instrument", "number": "instrument_item"}
INSTRUMENT_SCALE = {"instrument": "instrument", "number": "instrument_scale"}

# Every DRF view without a GET handler answers GET with 405 to any signed-in user, before it
# looks at the trial: that tells nothing about any object.
API_NO_GET = Need(status=405, trial_check=False)

ROUTES: list[Route] = [
    # Accounts and the front door.
    Route("trial:home", {G: read(status=302)}, audience="login"),  # one trial: redirect to it
    Route(
        "trial:setup:new_trial",
        {G: read(), PO: write()},
        audience="model_perm",
        model_perm="trial.add_trial",
    ),
    Route("login", {G: read(), PO: read()}, audience="public"),  # POST: the form with errors
    Route("logout", {PO: read(status=302)}, audience="public"),
    Route("set_language", {PO: read(status=302)}, audience="public"),
    Route("health", {G: read()}, audience="public"),
    # One's own account: signing in with a second factor, recovery codes, the password.
    Route("accounts:two_factor", {G: read()}, audience="login"),
    Route("accounts:setup", {G: read(), PO: write()}, audience="login"),
    Route("accounts:verify", {G: write(), PO: write()}, audience="login"),
    Route("accounts:recovery_codes", {G: write()}, audience="login"),
    Route("accounts:replace_recovery_codes", {PO: write()}, audience="login"),
    Route("accounts:disable", {PO: write()}, audience="login"),
    Route("accounts:password_change", {G: read(), PO: read()}, audience="login"),
    Route("accounts:revoke_token", {PO: write()}, audience="login"),  # names one's own token
    Route("accounts:new_token", {PO: write()}, audience="login"),  # a token of one's own
    Route("accounts:welcome", {G: read()}, audience="login"),
    # Single sign-on: off in the matrix (no identity provider configured), so 404.
    Route("accounts:oidc_start", {G: read(status=404)}, audience="public"),
    Route("accounts:oidc_callback", {G: read(status=404)}, audience="public"),
    # A coordinator revokes a trial member's API tokens.
    Route(
        "accounts:member_tokens",
        {G: read(P.MANAGE_MEMBERS), PO: write(P.MANAGE_MEMBERS)},
        {"pk": "membership"},
    ),
    # Trial set-up.
    Route("trial:setup:overview", {G: read(P.CONFIGURE_TRIAL)}),
    setup("edit_trial"),
    Route(
        "trial:setup:change_status",
        {G: post_only(P.CONFIGURE_TRIAL), PO: write(P.CONFIGURE_TRIAL)},
    ),
    setup("add_arm"),
    setup("edit_arm", fill={"pk": "arm"}),
    setup("remove_arm", fill={"pk": "arm"}),
    setup("add_site"),
    setup("edit_site", fill={"pk": "site"}),
    setup("remove_site", fill={"pk": "site"}),
    setup("add_member", P.MANAGE_MEMBERS),
    setup("edit_member", P.MANAGE_MEMBERS, {"pk": "membership"}),
    setup("remove_member", P.MANAGE_MEMBERS, {"pk": "membership"}),
    setup("add_reason"),
    setup("edit_reason", fill={"pk": "reason"}),
    setup("remove_reason", fill={"pk": "reason"}),
    setup("add_covariate"),
    setup("edit_covariate", fill={"pk": "covariate"}),
    setup("remove_covariate", fill={"pk": "covariate"}),
    setup("add_visit"),
    setup("edit_visit", fill={"pk": "visit_definition"}),
    setup("remove_visit", fill={"pk": "visit_definition"}),
    # Trial pages.
    Route("trial:dashboard", {G: read(P.VIEW_TRIAL)}),
    Route("trial:statistics", {G: read(P.VIEW_TRIAL)}),
    Route("trial:participants", {G: read(P.VIEW_PARTICIPANTS)}),
    Route("trial:participant", {G: read(P.VIEW_PARTICIPANTS)}, {"study_id": "participant"}),
    Route("trial:audit", {G: read(P.VIEW_AUDIT)}),
    Route("trial:screening", {G: read(P.ENROL), PO: write(P.ENROL)}),
    Route("trial:enrol", {G: read(P.ENROL), PO: write(P.ENROL)}),
    Route("trial:lost", {G: read(P.ENROL), PO: write(P.ENROL)}, {"study_id": "participant"}),
    Route("trial:withdraw", {G: read(P.ENROL), PO: write(P.ENROL)}, {"study_id": "participant"}),
    # Participant questionnaires: staff keep contact details and a trial's link settings; the
    # participant's own pages are public (a link that opens nothing answers 404).
    Route(
        "surveys_staff:contact",
        {G: read(P.RECORD_ASSESSMENT), PO: write(P.RECORD_ASSESSMENT)},
        {"study_id": "participant"},
    ),
    Route("surveys_staff:settings", {G: read(P.CONFIGURE_TRIAL), PO: write(P.CONFIGURE_TRIAL)}),
    Route(
        "surveys:answer",
        {G: read(status=404), PO: read(status=404)},
        {"token": "survey_link"},
        audience="public",
    ),
    Route("surveys:thanks", {G: read(status=404)}, {"token": "survey_link"}, audience="public"),
    Route(
        "surveys:opt_out",
        {G: read(status=404), PO: read(status=404)},
        {"token": "survey_link"},
        audience="public",
    ),
    # Electronic consent: coordinators keep the texts and download signed PDFs; staff who meet
    # participants show the consent screen on their device; the consent link is public.
    Route("consent_staff:texts", {G: read(P.MANAGE_CONSENT)}),
    Route("consent_staff:new", {G: read(P.MANAGE_CONSENT), PO: write(P.MANAGE_CONSENT)}),
    Route(
        "consent_staff:edit",
        {G: read(P.MANAGE_CONSENT), PO: write(P.MANAGE_CONSENT)},
        {"text_id": "consent_text"},
    ),
    Route(
        "consent_staff:publish",
        {G: post_only(P.MANAGE_CONSENT), PO: write(P.MANAGE_CONSENT)},
        {"text_id": "consent_text"},
    ),
    Route(
        "consent_staff:reconsent",
        {G: post_only(P.MANAGE_CONSENT), PO: write(P.MANAGE_CONSENT)},
        {"text_id": "consent_text"},
    ),
    Route("consent_staff:pdf", {G: read(P.MANAGE_CONSENT)}, {"record_id": "consent_record"}),
    Route(
        "consent_staff:device",
        {G: read(P.RECORD_ASSESSMENT), PO: write(P.RECORD_ASSESSMENT)},
        {"study_id": "participant"},
    ),
    Route(
        "consent_staff:send",
        {G: post_only(P.MANAGE_CONSENT), PO: write(P.MANAGE_CONSENT)},
        {"study_id": "participant"},
    ),
    Route(
        "consent:page",
        {G: read(status=404), PO: read(status=404)},
        {"token": "survey_link"},
        audience="public",
    ),
    Route(
        "consent:withdraw",
        {G: read(status=404), PO: read(status=404)},
        {"token": "survey_link"},
        audience="public",
    ),
    # The provider's bounce reports: no user, a shared secret; sent without it, so 403.
    Route("v1:surveys-bounces", {G: API_NO_GET, PO: read(status=403)}, audience="public"),
    Route("trial:worklist", {G: read(P.RECORD_ASSESSMENT)}),
    # Data entry from the instruments' definitions.
    Route(
        "instruments:assess",
        {G: read(P.RECORD_ASSESSMENT), PO: write(P.RECORD_ASSESSMENT)},
        {"visit_id": "visit"},
    ),
    Route(
        "instruments:correct",
        {G: read(P.RECORD_ASSESSMENT), PO: write(P.RECORD_ASSESSMENT)},
        {"assessment_id": "assessment"},
    ),
    # Randomisation.
    Route("randomisation:overview", {G: read(P.VIEW_TRIAL)}),
    Route(
        "randomisation:scheme",
        {G: read(P.CONFIGURE_RANDOMISATION), PO: write(P.CONFIGURE_RANDOMISATION)},
    ),
    Route(
        "randomisation:lock",
        {G: read(P.CONFIGURE_RANDOMISATION), PO: write(P.CONFIGURE_RANDOMISATION)},
    ),
    Route("randomisation:commitment", {G: read(P.VIEW_TRIAL)}),
    Route(
        "randomisation:log",
        {G: read(any_of=(P.VIEW_AUDIT, P.RANDOMISE, P.VIEW_SEALED_LIST))},
    ),
    Route(
        "randomisation:verify",
        {
            G: read(any_of=(P.VIEW_AUDIT, P.RANDOMISE, P.VIEW_SEALED_LIST)),
            PO: write(any_of=(P.VIEW_AUDIT, P.RANDOMISE, P.VIEW_SEALED_LIST)),
        },
    ),
    Route("randomisation:sealed_list", {G: read(P.VIEW_SEALED_LIST)}),
    Route("randomisation:export", {G: read(P.VIEW_SEALED_LIST)}, {"kind": "export"}),
    Route(
        "randomisation:simulations",
        {G: read(P.CONFIGURE_RANDOMISATION), PO: write(P.CONFIGURE_RANDOMISATION)},
    ),
    Route(
        "randomisation:simulation",
        {G: read(P.CONFIGURE_RANDOMISATION)},
        {"run_id": "simulation"},
    ),
    Route("randomisation:sites", {G: post_only(P.RANDOMISE), PO: write(P.RANDOMISE)}),
    Route(
        "randomisation:in_error",
        {G: read(P.RANDOMISE), PO: write(P.RANDOMISE)},
        {"sequence": "allocation"},
    ),
    Route(
        "randomisation:randomise",
        {G: read(P.RANDOMISE), PO: write(P.RANDOMISE)},
        {"study_id": "unallocated"},
    ),
    Route(
        "randomisation:manual",
        {G: read(P.RANDOMISE), PO: write(P.RANDOMISE)},
        {"study_id": "unallocated"},
    ),
    Route(
        "randomisation:unblind",
        {G: read(P.UNBLIND_EMERGENCY), PO: write(P.UNBLIND_EMERGENCY)},
        {"study_id": "participant"},
    ),
    Route("trialimport:import", {G: read(P.IMPORT_DATA), PO: write(P.IMPORT_DATA)}),
    Route(
        "trialimport:import_detail",
        {G: read(P.IMPORT_DATA)},
        {"import_id": "trial_import"},
    ),
    Route(
        "trialimport:import_confirm",
        {G: post_only(P.IMPORT_DATA), PO: write(P.IMPORT_DATA)},
        {"import_id": "trial_import"},
    ),
    # Analysis plan and reports.
    Route("reports:plan", {G: read(P.ORDER_REPORT)}),
    Route(
        "reports:plan_edit",
        {G: read(P.LOCK_ANALYSIS_PLAN), PO: write(P.LOCK_ANALYSIS_PLAN)},
    ),
    Route(
        "reports:plan_lock",
        {G: read(P.LOCK_ANALYSIS_PLAN), PO: write(P.LOCK_ANALYSIS_PLAN)},
    ),
    Route(
        "reports:plan_unblind",
        {G: read(P.UNBLIND_ANALYSIS), PO: write(P.UNBLIND_ANALYSIS)},
        prepare=_lock_plan,
    ),
    Route(
        "reports:plan_supersede",
        {G: read(P.LOCK_ANALYSIS_PLAN), PO: write(P.LOCK_ANALYSIS_PLAN)},
        prepare=_lock_plan,
    ),
    Route("reports:plan_version", {G: read(P.ORDER_REPORT)}, {"version": "plan_version"}),
    Route(
        "reports:list",
        {G: read(P.DOWNLOAD_REPORT), PO: write(P.DOWNLOAD_REPORT, P.ORDER_REPORT)},
    ),
    Route("reports:detail", {G: read(P.DOWNLOAD_REPORT)}, {"report_id": "report"}),
    # The report is unblinded: only users who may see arm names, whatever plan is locked.
    Route(
        "reports:download",
        {G: Need(frozenset({P.DOWNLOAD_REPORT}), object_perms=frozenset({P.VIEW_ARM_NAMES}))},
        {"report_id": "report", "which": "which"},
    ),
    Route("reports:downloads", {G: read(P.VIEW_AUDIT)}),
    Route("reports:consort_svg", {G: read(P.ORDER_REPORT)}),
    # Contacts and contamination.
    Route("fidelity:contacts", {G: read(P.LOG_CONTACT), PO: write(P.LOG_CONTACT)}),
    Route("fidelity:employer_contact", {G: read(P.LOG_CONTACT), PO: write(P.LOG_CONTACT)}),
    Route("fidelity:participant_search", {G: read(P.LOG_CONTACT)}),
    Route("fidelity:contact_list", {G: read(P.LOG_CONTACT)}),
    # Anyone who logs contacts may open one at their sites; only its author may change it.
    Route(
        "fidelity:edit_contact",
        {G: read(P.LOG_CONTACT), PO: write(P.LOG_CONTACT, author_only=True)},
        {"contact_id": "contact"},
    ),
    Route("fidelity:exposures", {G: read(P.CONFIGURE_TRIAL)}),
    # Everyone who may know the arms reads adaptations; those who configure the trial add one.
    Route(
        "fidelity:adaptations",
        {G: read(P.VIEW_ALLOCATION), PO: write(P.VIEW_ALLOCATION, P.CONFIGURE_TRIAL)},
    ),
    Route(
        "fidelity:edit_adaptation",
        {G: read(P.CONFIGURE_TRIAL), PO: write(P.CONFIGURE_TRIAL)},
        {"adaptation_id": "adaptation"},
    ),
    Route(
        "fidelity:site_events",
        {G: read(P.CONFIGURE_TRIAL), PO: write(P.CONFIGURE_TRIAL)},
    ),
    Route(
        "fidelity:remove_site_event",
        {G: read(P.CONFIGURE_TRIAL), PO: write(P.CONFIGURE_TRIAL)},
        {"exposure_id": "site_event"},
    ),
    Route("fidelity:staff", {G: read(P.MANAGE_MEMBERS)}),
    Route(
        "fidelity:staff_member",
        {G: read(P.MANAGE_MEMBERS), PO: write(P.MANAGE_MEMBERS)},
        {"membership_id": "membership"},
    ),
    Route(
        "fidelity:remove_assignment",
        {G: post_only(P.MANAGE_MEMBERS), PO: write(P.MANAGE_MEMBERS)},
        {"membership_id": "membership", "assignment_id": "assignment"},
    ),
    # Fidelity reviews and scales.
    Route("fidelity_reviews:reviews", {G: read(P.VIEW_ALLOCATION)}),
    Route(
        "fidelity_reviews:review_new",
        {G: read(P.REVIEW_FIDELITY), PO: write(P.REVIEW_FIDELITY)},
    ),
    Route("fidelity_reviews:review", {G: read(P.VIEW_ALLOCATION)}, {"review_id": "review"}),
    Route(
        "fidelity_reviews:score",
        {G: read(P.REVIEW_FIDELITY), PO: write(P.REVIEW_FIDELITY)},
        {"review_id": "review"},
    ),
    Route(
        "fidelity_reviews:consensus",
        {G: read(P.REVIEW_FIDELITY), PO: write(P.REVIEW_FIDELITY)},
        {"review_id": "review"},
    ),
    Route(
        "fidelity_reviews:finalise",
        {G: read(P.REVIEW_FIDELITY), PO: write(P.REVIEW_FIDELITY)},
        {"review_id": "review"},
    ),
    Route("fidelity_reviews:trends", {G: read(P.VIEW_ALLOCATION)}),
    Route("fidelity_reviews:scales", {G: read(P.VIEW_TRIAL)}),
    Route(
        "fidelity_reviews:scale_add_template",
        {G: post_only(P.CONFIGURE_TRIAL), PO: write(P.CONFIGURE_TRIAL)},
    ),
    Route(
        "fidelity_reviews:scale_new",
        {G: read(P.CONFIGURE_TRIAL), PO: write(P.CONFIGURE_TRIAL)},
    ),
    Route("fidelity_reviews:scale", {G: read(P.VIEW_TRIAL)}, {"scale_id": "scale"}),
    Route(
        "fidelity_reviews:scale_edit",
        {G: read(P.CONFIGURE_TRIAL), PO: write(P.CONFIGURE_TRIAL)},
        {"scale_id": "scale"},
    ),
    Route(
        "fidelity_reviews:item_new",
        {G: read(P.CONFIGURE_TRIAL), PO: write(P.CONFIGURE_TRIAL)},
        {"scale_id": "scale"},
    ),
    Route(
        "fidelity_reviews:item_edit",
        {G: read(P.CONFIGURE_TRIAL), PO: write(P.CONFIGURE_TRIAL)},
        {"scale_id": "scale", "number": "item"},
    ),
    Route("fidelity_dashboards:dose", {G: read(P.VIEW_DASHBOARD, P.VIEW_ALLOCATION)}),
    Route("fidelity_dashboards:contamination", {G: read(P.VIEW_DASHBOARD, P.VIEW_ALLOCATION)}),
    # Job strain.
    Route("occupations:job_strain", {G: read(P.VIEW_DASHBOARD)}),
    Route("occupations:matrices", {G: read(P.IMPORT_DATA), PO: write(P.IMPORT_DATA)}),
    Route("occupations:matrix", {G: read(P.VIEW_DASHBOARD)}, {"pk": "jem"}),
    Route(
        "occupations:activate",
        {G: post_only(P.IMPORT_DATA), PO: write(P.IMPORT_DATA)},
        {"pk": "jem"},
    ),
    # Pathways (register spells).
    Route("pathways:overview", {G: read(P.VIEW_PARTICIPANTS)}),
    Route("pathways:import", {G: read(P.IMPORT_DATA), PO: write(P.IMPORT_DATA)}),
    Route("pathways:imports", {G: read(P.IMPORT_DATA)}),
    Route("pathways:import_detail", {G: read(P.IMPORT_DATA)}, {"import_id": "spell_import"}),
    Route("pathways:import_status", {G: read(P.IMPORT_DATA)}, {"import_id": "spell_import"}),
    Route(
        "pathways:import_confirm",
        {G: post_only(P.IMPORT_DATA), PO: write(P.IMPORT_DATA)},
        {"import_id": "spell_import"},
    ),
    Route(
        "pathways:import_cancel",
        {G: post_only(P.IMPORT_DATA), PO: write(P.IMPORT_DATA)},
        {"import_id": "spell_import"},
    ),
    Route("pathways:flags", {G: read(P.IMPORT_DATA)}),
    Route(
        "pathways:flag_review",
        {G: post_only(P.IMPORT_DATA), PO: write(P.IMPORT_DATA)},
        {"flag_id": "flag"},
    ),
    Route("pathways:alphabet", {G: read(P.IMPORT_DATA), PO: write(P.IMPORT_DATA)}),
    Route(
        "pathways:alphabet_standard",
        {G: post_only(P.IMPORT_DATA), PO: write(P.IMPORT_DATA)},
    ),
    Route(
        "pathways:state_edit",
        {G: read(P.IMPORT_DATA), PO: write(P.IMPORT_DATA)},
        {"state_id": "state"},
    ),
    Route(
        "pathways:state_delete",
        {G: post_only(P.IMPORT_DATA), PO: write(P.IMPORT_DATA)},
        {"state_id": "state"},
    ),
    Route("pathways:settings", {G: post_only(P.IMPORT_DATA), PO: write(P.IMPORT_DATA)}),
    Route(
        "economics:unit_costs",
        {G: read(P.ORDER_REPORT), PO: write(P.ORDER_REPORT, P.KEEP_UNIT_COSTS)},
    ),
    Route("economics:import", {G: post_only(P.KEEP_UNIT_COSTS), PO: write(P.KEEP_UNIT_COSTS)}),
    Route("economics:settings", {G: post_only(P.KEEP_UNIT_COSTS), PO: write(P.KEEP_UNIT_COSTS)}),
    Route(
        "economics:edit",
        {G: read(P.KEEP_UNIT_COSTS), PO: write(P.KEEP_UNIT_COSTS)},
        {"cost_id": "unit_cost"},
    ),
    Route(
        "economics:delete",
        {G: post_only(P.KEEP_UNIT_COSTS), PO: write(P.KEEP_UNIT_COSTS)},
        {"cost_id": "unit_cost"},
    ),
    # The data dictionary: everyone in the trial reads it; importing one defines instruments.
    Route("instruments_dictionary:dictionary", {G: read(P.VIEW_TRIAL)}),
    Route("instruments_dictionary:download", {G: read(P.VIEW_TRIAL)}),
    Route(
        "instruments_dictionary:import",
        {G: read(P.DEFINE_INSTRUMENTS), PO: write(P.DEFINE_INSTRUMENTS)},
    ),
    # Instruments: their definition (coordinators and data managers).
    instruments("list", "GET"),
    instruments("new"),
    instruments("add_builtin", "post_only"),
    instruments("edit", "GET", INSTRUMENT),
    instruments("settings", "post_only", INSTRUMENT),
    instruments("add_item", fill=INSTRUMENT),
    instruments("edit_item", fill=INSTRUMENT_ITEM),
    instruments("move_item", "post_only", INSTRUMENT_ITEM),
    instruments("remove_item", fill=INSTRUMENT_ITEM),
    instruments("add_scale", fill=INSTRUMENT),
    instruments("add_library_scale", "post_only", INSTRUMENT),
    instruments("edit_scale", fill=INSTRUMENT_SCALE),
    instruments("remove_scale", fill=INSTRUMENT_SCALE),
    instruments("visits", fill=INSTRUMENT),
    instruments("versions", "GET", INSTRUMENT),
    instruments("remove", fill=INSTRUMENT),
    # API v1.
    Route("v1:me", {G: read()}, audience="login"),
    Route("v1:trial-list", {G: read()}, audience="login"),
    Route("v1:occupation-list", {G: read()}, audience="login"),
    Route("v1:token", {G: read(status=405), PO: read(status=400)}, audience="public"),
    Route("v1:token-list", {G: read()}, audience="login"),  # one's own tokens
    Route("v1:token-revocation", {G: API_NO_GET, PO: write()}, audience="login"),
    Route("v1:schema", {G: read()}, audience="public"),
    Route("v1:docs", {G: read()}, audience="public"),
    Route("v1:trial-detail", {G: read(P.VIEW_TRIAL)}),
    Route("v1:site-list", {G: read(P.VIEW_TRIAL)}),
    Route("v1:arm-list", {G: read(P.VIEW_TRIAL)}),
    Route("v1:participant-list", {G: read(P.VIEW_PARTICIPANTS), PO: write(P.ENROL)}),
    Route("v1:participant-detail", {G: read(P.VIEW_PARTICIPANTS)}, {"study_id": "participant"}),
    Route(
        "v1:participant-withdrawal",
        {G: API_NO_GET, PO: write(P.ENROL)},
        {"study_id": "participant"},
    ),
    Route(
        "v1:participant-loss",
        {G: API_NO_GET, PO: write(P.ENROL), "DELETE": write(P.ENROL)},
        {"study_id": "participant"},
    ),
    Route("v1:screening-list", {G: read(P.VIEW_PARTICIPANTS), PO: write(P.ENROL)}),
    Route("v1:visit-list", {G: read(P.VIEW_PARTICIPANTS)}),
    Route(
        "v1:visit-missed",
        {G: API_NO_GET, PO: write(P.RECORD_ASSESSMENT)},
        {"visit_id": "visit"},
    ),
    Route(
        "v1:visit-assessment",
        {G: API_NO_GET, PO: write(P.RECORD_ASSESSMENT)},
        {"visit_id": "visit"},
    ),
    Route("v1:assessment-list", {G: read(P.VIEW_PARTICIPANTS)}),
    Route(
        "v1:assessment-correction",
        {G: API_NO_GET, PO: write(P.RECORD_ASSESSMENT)},
        {"assessment_id": "assessment"},
    ),
    Route("v1:instrument-schema", {G: read(P.VIEW_TRIAL)}),
    Route("v1:auditevent-list", {G: read(P.VIEW_AUDIT)}),
    Route(
        "v1:randomise",
        {G: API_NO_GET, PO: write(P.RANDOMISE)},
        {"study_id": "unallocated"},
    ),
    Route("v1:allocation-list", {G: read(P.VIEW_PARTICIPANTS)}),
    Route("v1:component-list", {G: read(P.VIEW_TRIAL)}),
    # Contacts tell the arm (components delivered, how often): blinded roles may not read them.
    Route(
        "v1:contact-list",
        {G: read(P.VIEW_PARTICIPANTS, P.VIEW_ALLOCATION), PO: write(P.LOG_CONTACT)},
    ),
    Route("v1:contact-batch", {G: API_NO_GET, PO: write(P.LOG_CONTACT)}),
    Route(
        "v1:contact-detail",
        {
            G: read(P.VIEW_PARTICIPANTS, P.VIEW_ALLOCATION),
            "PATCH": write(P.LOG_CONTACT, author_only=True),
        },
        {"contact_id": "contact"},
    ),
    Route("v1:exposure-list", {G: read(P.VIEW_PARTICIPANTS, P.VIEW_ALLOCATION)}),
    Route("v1:fidelity-scale-list", {G: read(P.VIEW_TRIAL)}),
    Route("v1:fidelity-review-list", {G: read(P.VIEW_ALLOCATION)}),
    Route(
        "v1:fidelity-review-detail",
        {G: read(P.VIEW_ALLOCATION)},
        {"review_id": "review"},
    ),
    Route(
        "v1:fidelity-review-scores",
        {G: API_NO_GET, PO: write(P.REVIEW_FIDELITY)},
        {"review_id": "review"},
    ),
    Route(
        "v1:site-event-list",
        {G: read(P.CONFIGURE_TRIAL), PO: write(P.CONFIGURE_TRIAL)},
    ),
    Route(
        "v1:site-event-removal",
        {G: API_NO_GET, PO: write(P.CONFIGURE_TRIAL)},
        {"exposure_id": "site_event"},
    ),
    Route("v1:consent-text-list", {G: read(P.MANAGE_CONSENT), PO: write(P.MANAGE_CONSENT)}),
    Route(
        "v1:consent-text-detail",
        {G: read(P.MANAGE_CONSENT), "PUT": write(P.MANAGE_CONSENT)},
        {"text_id": "consent_text"},
    ),
    Route("v1:consent-text-publish", {PO: write(P.MANAGE_CONSENT)}, {"text_id": "consent_text"}),
    Route("v1:consent-text-reconsent", {PO: write(P.MANAGE_CONSENT)}, {"text_id": "consent_text"}),
    Route("v1:consent-record-list", {G: read(P.VIEW_PARTICIPANTS)}),
    Route(
        "v1:adaptation-list",
        {G: read(P.VIEW_ALLOCATION), PO: write(P.CONFIGURE_TRIAL)},
    ),
    Route(
        "v1:adaptation-detail",
        {G: read(P.VIEW_ALLOCATION), "PUT": write(P.CONFIGURE_TRIAL)},
        {"adaptation_id": "adaptation"},
    ),
    Route("v1:analysis-plan-list", {G: read(P.ORDER_REPORT)}),
    Route("v1:consort-svg", {G: read(P.ORDER_REPORT)}),
    Route(
        "v1:analysis-unblinding",
        {G: read(P.ORDER_REPORT), PO: write(P.UNBLIND_ANALYSIS)},
        prepare=_lock_plan,
    ),
    Route("v1:report-list", {G: read(P.DOWNLOAD_REPORT), PO: write(P.ORDER_REPORT)}),
    Route("v1:report-detail", {G: read(P.DOWNLOAD_REPORT)}, {"report_id": "report"}),
    Route("v1:jem-list", {G: read(P.VIEW_DASHBOARD)}),
    Route("v1:jem-entry-list", {G: read(P.VIEW_DASHBOARD)}, {"pk": "jem"}),
    Route("v1:state-list", {G: read(P.VIEW_TRIAL)}),
    Route("v1:spell-list", {G: read(P.VIEW_PARTICIPANTS)}),
    Route("v1:sequence-table", {G: read(P.VIEW_PARTICIPANTS)}),
    Route("v1:unit-cost-list", {G: read(P.ORDER_REPORT), PO: write(P.KEEP_UNIT_COSTS)}),
    Route("v1:dictionary", {G: read(P.VIEW_TRIAL), PO: write(P.DEFINE_INSTRUMENTS)}),
    Route(
        "v1:instrument-list",
        {G: read(P.DEFINE_INSTRUMENTS), PO: write(P.DEFINE_INSTRUMENTS)},
    ),
    Route(
        "v1:instrument-detail",
        {
            G: read(P.DEFINE_INSTRUMENTS),
            "PUT": write(P.DEFINE_INSTRUMENTS),
            "PATCH": write(P.DEFINE_INSTRUMENTS),
            "DELETE": write(P.DEFINE_INSTRUMENTS),
        },
        INSTRUMENT,
    ),
    Route(
        "v1:instrument-visits",
        {G: read(P.DEFINE_INSTRUMENTS), "PUT": write(P.DEFINE_INSTRUMENTS)},
        INSTRUMENT,
    ),
]

# The admin site has its own gate (is_staff plus Django model permissions, with querysets
# narrowed by trial.permissions); no persona is staff, so every admin URL sends them to the
# admin login. tests/trial/test_permission_matrix.py covers staff users.
ADMIN_NAMESPACE = "admin"

# Pages of the process evaluation, checked in a module of their own so that two test workers
# share the matrix.
PROCESS_PAGES = ("fidelity", "occupations:", "pathways:")
