"""A synthetic IPS-like employment-support trial for demonstrations and benchmarks.

Everything is drawn from one seeded generator, so the same seed gives the same trial. Personal
numbers are synthetic test numbers (month + 80, as in Skatteetaten's Tenor test data), so no
real person's number can appear.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import transaction
from django.utils import timezone

from trial import audit, personal_numbers, services
from trial.models import (
    Arm,
    CovariateDefinition,
    ExclusionReason,
    LossToFollowUp,
    Membership,
    Participant,
    ScreeningRecord,
    Site,
    Trial,
    Visit,
    VisitDefinition,
    Withdrawal,
)

DEMO_TRIAL_CODE = "ips-demo"
DEMO_PASSWORD = "demo-trials-2026"  # noqa: S105 - published demo login, see README
ENROLMENT_DAYS_BEFORE = 700
"""The first demo participant is enrolled this many days before the demo's ``as_of``."""
CONSENT_VERSIONS = [("2.0", 0), ("2.1", 200)]
"""The consent form's versions, each with the day from the first enrolment it came into force
(participants sign the version in force when they are enrolled)."""

# (code, name, municipality number, region): NAV offices, municipality numbers as of 2024.
SITES = [
    ("OSL1", "NAV Grünerløkka", "0301", "Oslo"),
    ("OSL2", "NAV Frogner", "0301", "Oslo"),
    ("BGO", "NAV Bergenhus", "4601", "Vestland"),
    ("TRD", "NAV Trondheim", "5001", "Trøndelag"),
    ("SVG", "NAV Stavanger", "1103", "Rogaland"),
    ("KRS", "NAV Kristiansand", "4204", "Agder"),
    ("TOS", "NAV Tromsø", "5501", "Troms"),
    ("BOO", "NAV Bodø", "1804", "Nordland"),
    ("LHM", "NAV Lillehammer", "3405", "Innlandet"),
    ("HMR", "NAV Hamar", "3403", "Innlandet"),
    ("DRM", "NAV Drammen", "3301", "Buskerud"),
    ("FRE", "NAV Fredrikstad", "3107", "Østfold"),
]

# (username, full name, role, site codes, unblinded)
USERS = [
    ("coordinator", "Kari Koordinator", Membership.Role.COORDINATOR, [], False),
    ("caseworker", "Ola Veileder", Membership.Role.CASEWORKER, ["OSL1", "OSL2"], False),
    ("caseworker-bergen", "Sigrid Veileder", Membership.Role.CASEWORKER, ["BGO"], False),
    ("reviewer", "Per Fidelitet", Membership.Role.FIDELITY_REVIEWER, [], False),
    ("statistician", "Ingrid Statistiker", Membership.Role.STATISTICIAN, [], False),
    ("unblinded", "Lars Ublindet", Membership.Role.STATISTICIAN, [], True),
    ("datamanager", "Nina Datahåndterer", Membership.Role.DATA_MANAGER, [], False),
    ("monitor", "Hans Monitor", Membership.Role.MONITOR, [], False),
]

EDUCATION = ["compulsory", "upper_secondary_incomplete", "upper_secondary", "higher"]
DIAGNOSIS = ["anxiety_depression", "psychosis", "substance_use", "adhd", "other"]
BENEFITS = ["work_assessment_allowance", "social_assistance", "unemployment_benefit", "none"]


class DemoHooks:
    """What apps built on ``trial`` add to the demo; the defaults need only ``trial``.

    ``demo.seed`` passes hooks that randomise by the trial's real scheme.
    """

    def trial_ready(self, trial: Trial, coordinator: Any) -> None:
        """Called once the trial, its sites, users and schedule exist."""

    def randomise(self, participant: Participant, on: dt.date, actor: Any) -> None:
        """Allocate the participant on ``on`` and schedule their visits."""
        participant.randomised_on = on
        participant.save(update_fields=["randomised_on"])
        services.generate_visits(participant, randomised_on=on)

    def arm(self, participant: Participant) -> str:
        """The arm a randomised participant is in ("" if ``randomise`` allocates none): losses
        to follow-up are spread evenly over the arms."""
        return ""

    def assess(self, visit: Visit, values: dict[str, Any], actor: Any) -> None:
        """Record the visit's answers to the trial's default instrument ("Employment and
        benefits"). ``trial`` stores no answers itself (``instruments`` does), so by default
        nothing is recorded and the visit stays open."""

    def participant_done(
        self, participant: Participant, rng: random.Random, as_of: dt.date, actor: Any
    ) -> None:
        """Called after a participant's follow-up is written (contacts, for example)."""


LATEST_ASSESSMENT_DAYS = 45
"""The latest a demo visit is assessed, in days after its due date."""

LOSS_SHARE = 0.05
"""The share of each arm's participants who do not withdraw that is lost to follow-up at some
time; a loss whose date falls after the demo's end date has not happened yet."""

# (reason, weight, what was tried): most people lost simply cannot be reached.
LOSS_REASONS = [
    (LossToFollowUp.Reason.UNREACHABLE, 6, "No answer to calls, text messages or a letter"),
    (LossToFollowUp.Reason.UNREACHABLE, 6, "Phone number no longer in use; letters unanswered"),
    (LossToFollowUp.Reason.MOVED, 3, "Moved abroad; new address not known"),
    (LossToFollowUp.Reason.MOVED, 3, "Moved to a municipality outside the trial's area"),
    (LossToFollowUp.Reason.DIED, 1, "Reported by the NAV office"),
    (LossToFollowUp.Reason.OTHER, 1, "In prison; contact could not be arranged"),
    (LossToFollowUp.Reason.OTHER, 1, "Long inpatient stay; the ward could not arrange contact"),
]


@dataclass
class PlannedLoss:
    before: Visit
    lost_on: dt.date
    reason: str
    detail: str


class LossPlan:
    """Who is lost to follow-up, when and why.

    Spread evenly over the arms (one in every 1 / LOSS_SHARE of an arm's participants who do not
    withdraw), so that the demo does not show one arm losing many more than the other by
    chance. When, and why, comes from a generator of the participant's own (seeded by
    the study id), so the rest of the demo draws the same numbers as before losses were added.
    """

    def __init__(self) -> None:
        self.share: dict[str, float] = {}

    def plan(
        self, participant: Participant, visits: list[Visit], *, arm: str, as_of: dt.date
    ) -> PlannedLoss | None:
        """The participant's loss by ``as_of``, or None. The loss falls before a visit's due
        date and after randomisation, or after the latest date the visit before it could have
        been assessed."""
        if not visits or participant.randomised_on is None:
            return None
        self.share[arm] = self.share.get(arm, 0.5) + LOSS_SHARE
        if self.share[arm] < 1:
            return None
        self.share[arm] -= 1
        rng = random.Random(f"loss-{participant.study_id}")  # noqa: S311 - synthetic data
        index = rng.randrange(len(visits))
        before = visits[index]
        if index == 0:
            earliest = participant.randomised_on + dt.timedelta(days=14)
        else:
            earliest = visits[index - 1].due_on + dt.timedelta(days=LATEST_ASSESSMENT_DAYS + 7)
        latest = before.due_on - dt.timedelta(days=1)
        if latest < earliest:
            return None
        lost_on = earliest + dt.timedelta(days=rng.randint(0, (latest - earliest).days))
        reason, _weight, detail = rng.choices(LOSS_REASONS, [w for _r, w, _d in LOSS_REASONS])[0]
        if lost_on > as_of:
            return None
        return PlannedLoss(before=before, lost_on=lost_on, reason=reason, detail=detail)


OPEN = "open"
MISSED = "missed"


def _visit_outcome(visit: Visit, rng: random.Random, *, as_of: dt.date) -> dict[str, Any] | str:
    """What became of a visit by ``as_of``: the assessment's values, MISSED or OPEN."""
    # Visits still inside their window are completed by some; past ones by most.
    assessed_on = visit.due_on + dt.timedelta(days=rng.randint(-10, LATEST_ASSESSMENT_DAYS))
    if assessed_on > as_of:
        return MISSED if visit.window_end < as_of and rng.random() < 0.3 else OPEN
    if rng.random() < 0.1:
        return MISSED if visit.window_end < as_of else OPEN
    in_work = rng.random() < 0.15 + 0.02 * visit.definition.offset_months
    on_benefits = not in_work or rng.random() < 0.3
    return {
        "assessed_on": assessed_on,
        "in_paid_work": in_work,
        "hours_per_week": Decimal(rng.choice([8, 15, 20, 30, 37.5])) if in_work else None,
        "monthly_earnings": rng.randint(8, 45) * 1000 if in_work else None,
        "occupation_code": rng.choice(["5223", "9112", "4110", "5120", "7411"]) if in_work else "",
        "on_benefits": on_benefits,
        "benefit_type": rng.choice(
            ["work_assessment_allowance", "social_assistance", "unemployment_benefit"]
        )
        if on_benefits
        else "",
        "self_rated_health": rng.randint(1, 5),
    }


def _follow_up(
    participant: Participant,
    rng: random.Random,
    *,
    as_of: dt.date,
    actor: Any,
    hooks: DemoHooks,
    losses: LossPlan,
) -> None:
    """Randomisation, visits, assessments, misses, withdrawals and losses up to ``as_of``."""
    randomised_on = participant.enrolled_on + dt.timedelta(days=rng.randint(0, 7))
    if randomised_on > as_of:
        return
    hooks.randomise(participant, randomised_on, actor)
    visits = list(participant.visits.select_related("definition").order_by("due_on"))
    withdraw_after = rng.choice(visits) if visits and rng.random() < 0.07 else None
    loss = (
        None
        if withdraw_after
        else losses.plan(participant, visits, arm=hooks.arm(participant), as_of=as_of)
    )
    lost = False
    for visit in sorted(visits, key=lambda v: v.due_on):
        if visit is withdraw_after:
            withdrawn_on = min(visit.due_on - dt.timedelta(days=20), as_of)
            if withdrawn_on >= participant.enrolled_on:
                services.withdraw_participant(
                    participant,
                    withdrawn_on=withdrawn_on,
                    scope=rng.choices(list(Withdrawal.Scope.values), [5, 3, 1])[0],
                    reason=rng.choice(
                        ["No longer wishes to take part", "Moved away", "Too ill to continue"]
                    ),
                    actor=actor,
                )
                return
        if loss is not None and visit is loss.before:
            services.mark_lost_to_follow_up(
                participant,
                lost_on=loss.lost_on,
                reason=loss.reason,
                detail=loss.detail,
                actor=actor,
            )
            lost = True
        # Drawn even after a loss, so that later participants draw the same numbers.
        outcome = _visit_outcome(visit, rng, as_of=as_of)
        if lost or outcome == OPEN:
            continue  # after a loss, as after a withdrawal, the visits stay open
        if outcome == MISSED:
            services.mark_visit_missed(visit, actor=actor)
        elif isinstance(outcome, dict):
            hooks.assess(visit, outcome, actor)


@dataclass
class DemoResult:
    trial: Trial
    participants: int
    users: list[str]


def consent_version_on(day: dt.date, *, start: dt.date) -> str:
    """The demo's consent version in force on ``day`` (``start``: the first enrolment)."""
    return [
        version for version, after in CONSENT_VERSIONS if day >= start + dt.timedelta(days=after)
    ][-1]


def synthetic_personal_number(rng: random.Random, birth: dt.date) -> str:
    """A valid synthetic test number (month + 80) for someone born on ``birth``."""
    while True:
        individual = rng.randint(500, 999) if birth.year >= 2000 else rng.randint(0, 499)
        first_nine = f"{birth.day:02d}{birth.month + 80:02d}{birth.year % 100:02d}{individual:03d}"
        check = personal_numbers.check_digits(first_nine)
        if check is not None:
            return first_nine + check


COVARIATES = [
    # key, label, kind, choices, min, max
    ("age", "Age (years)", CovariateDefinition.Kind.INTEGER, [], 16, 67),
    (
        "sex",
        "Sex",
        CovariateDefinition.Kind.CHOICE,
        [["female", "Female"], ["male", "Male"]],
        None,
        None,
    ),
    (
        "education",
        "Highest education",
        CovariateDefinition.Kind.CHOICE,
        [
            ["compulsory", "Compulsory school"],
            ["upper_secondary_incomplete", "Upper secondary, not completed"],
            ["upper_secondary", "Upper secondary"],
            ["higher", "Higher education"],
        ],
        None,
        None,
    ),
    (
        "diagnosis_group",
        "Diagnosis group",
        CovariateDefinition.Kind.CHOICE,
        [
            ["anxiety_depression", "Anxiety or depression"],
            ["psychosis", "Psychosis"],
            ["substance_use", "Substance use"],
            ["adhd", "ADHD"],
            ["other", "Other"],
        ],
        None,
        None,
    ),
    (
        "benefit_type",
        "Benefit at enrolment",
        CovariateDefinition.Kind.CHOICE,
        [
            ["work_assessment_allowance", "Work assessment allowance (AAP)"],
            ["social_assistance", "Social assistance"],
            ["unemployment_benefit", "Unemployment benefit"],
            ["none", "None"],
        ],
        None,
        None,
    ),
    (
        "months_since_work",
        "Months since last paid work",
        CovariateDefinition.Kind.INTEGER,
        [],
        0,
        600,
    ),
]
ELIGIBLE_AGE = (18, 29)
EXCLUSIONS = [
    ("age", "Outside the age range 18–29"),
    ("no_mental_health", "No mental-health problem documented"),
    ("in_work", "Already in paid work or education"),
    ("other_programme", "Takes part in another employment programme"),
]
VISITS = [
    ("m3", "3 months", 3),
    ("m6", "6 months", 6),
    ("m12", "12 months", 12),
    ("m18", "18 months", 18),
]


def seed_demo(
    *,
    participants: int = 600,
    seed: int = 1,
    as_of: dt.date | None = None,
    hooks: DemoHooks | None = None,
) -> DemoResult:
    """Create the demo trial with its set-up, users, screening log and participants.

    The timeline ends on ``as_of`` (today by default), so the demo always has visits in every
    status. Refuses (ValueError) if the demo trial exists already. Deterministic for a seed and
    date.
    """
    as_of = as_of or timezone.localdate()
    hooks = hooks or DemoHooks()
    if Trial.objects.filter(code=DEMO_TRIAL_CODE).exists():
        raise ValueError(f"the demo trial {DEMO_TRIAL_CODE!r} exists already")
    rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data, not security
    with transaction.atomic():
        trial = _create_trial(participants)
        sites = _create_sites(trial)
        usernames = _create_users(trial, sites)
        reasons = _create_schedule(trial)
        coordinator = get_user_model().objects.get(username="coordinator")
        hooks.trial_ready(trial, coordinator)
        enrolment = _Enrolment(trial, sites, reasons, rng, actor=coordinator)
        start = as_of - dt.timedelta(days=ENROLMENT_DAYS_BEFORE)
        losses = LossPlan()
        for i in range(participants):
            enrolled_on = start + dt.timedelta(days=int(i * 540 / max(participants, 1)))
            participant = enrolment.enrol(enrolled_on, start=start)
            _follow_up(participant, rng, as_of=as_of, actor=coordinator, hooks=hooks, losses=losses)
            hooks.participant_done(participant, rng, as_of, coordinator)
    return DemoResult(
        trial=trial, participants=Participant.objects.filter(trial=trial).count(), users=usernames
    )


def _create_trial(participants: int) -> Trial:
    """The demo trial, recruiting, with its two arms."""
    trial = Trial.objects.create(
        code=DEMO_TRIAL_CODE,
        title="IPS for young adults outside work and school (demo)",
        registry_id="NCT00000000",
        design=Trial.Design.INDIVIDUAL,
        status=Trial.Status.RECRUITING,
        target_size=participants,
        description=(
            "Synthetic demonstration trial: Individual Placement and Support delivered by "
            "NAV employment specialists, compared with usual NAV follow-up."
        ),
    )
    audit.record_created(trial, actor=None)
    for arm in (
        Arm(trial=trial, code="A", name="IPS (Individual Placement and Support)"),
        Arm(trial=trial, code="B", name="Usual NAV follow-up", is_control=True),
    ):
        arm.save()
        audit.record_created(arm, actor=None)
    return trial


def _create_sites(trial: Trial) -> dict[str, Site]:
    """The NAV offices of ``SITES``, by code."""
    sites = {}
    for code, name, municipality, region in SITES:
        site = Site.objects.create(
            trial=trial, code=code, name=name, municipality_number=municipality, region=region
        )
        audit.record_created(site, actor=None)
        sites[code] = site
    return sites


def _create_users(trial: Trial, sites: dict[str, Site]) -> list[str]:
    """The demo users of ``USERS`` (made or reused), each a member in their role."""
    User = get_user_model()
    add_trial = Permission.objects.get(codename="add_trial", content_type__app_label="trial")
    usernames = []
    for username, full_name, role, site_codes, unblinded in USERS:
        first, last = full_name.split(" ", 1)
        user, _created = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{username}@example.org",
            },
        )
        user.set_password(DEMO_PASSWORD)
        user.is_staff = role == Membership.Role.COORDINATOR
        user.save()
        if role == Membership.Role.COORDINATOR:
            user.user_permissions.add(add_trial)
        membership = Membership.objects.create(
            trial=trial, user=user, role=role, unblinded=unblinded
        )
        membership.sites.set([sites[c] for c in site_codes])
        audit.record_created(membership, actor=None)
        usernames.append(username)
    return usernames


def _create_schedule(trial: Trial) -> list[ExclusionReason]:
    """The baseline covariates, the exclusion reasons (returned) and the follow-up visits."""
    for order, (key, label, kind, choices, low, high) in enumerate(COVARIATES):
        CovariateDefinition.objects.create(
            trial=trial,
            key=key,
            label=label,
            kind=kind,
            choices=choices,
            min_value=low,
            max_value=high,
            # The trial's inclusion criterion (the exclusion reason "age" below).
            eligible_min=ELIGIBLE_AGE[0] if key == "age" else None,
            eligible_max=ELIGIBLE_AGE[1] if key == "age" else None,
            order=order,
        )
    reasons = [
        ExclusionReason.objects.create(trial=trial, code=code, label=label, order=i)
        for i, (code, label) in enumerate(EXCLUSIONS)
    ]
    for code, label, months in VISITS:
        VisitDefinition.objects.create(trial=trial, code=code, label=label, offset_months=months)
    return reasons


class _Enrolment:
    """Screens and enrols the demo's participants, one at a time, from the demo's generator.

    The draws come in the order the demo has always made them (the site weights first, then per
    person: site, age, birthday, baseline, screenings, personal number, study id), so a seed
    gives the same trial as before.
    """

    def __init__(
        self,
        trial: Trial,
        sites: dict[str, Site],
        reasons: list[ExclusionReason],
        rng: random.Random,
        *,
        actor: Any,
    ) -> None:
        self.trial = trial
        self.reasons = reasons
        self.rng = rng
        self.actor = actor
        # Larger offices recruit more: weights are fixed per site.
        self.weights = [rng.uniform(0.5, 1.5) for _ in SITES]
        self.sites = list(sites.values())
        self.used_suffixes: set[str] = set()
        self.used_numbers: set[str] = set()

    def new_number(self, birth: dt.date) -> str:
        while True:
            number = synthetic_personal_number(self.rng, birth)
            if number not in self.used_numbers:
                self.used_numbers.add(number)
                return number

    def suffix(self) -> str:
        while True:
            value = "".join(self.rng.choice(services.STUDY_ID_ALPHABET) for _ in range(6))
            if value not in self.used_suffixes:
                self.used_suffixes.add(value)
                return value

    def baseline(self, age: int) -> dict[str, Any]:
        rng = self.rng
        return {
            "age": age,
            "sex": rng.choice(["female", "male"]),
            "education": rng.choices(EDUCATION, [30, 35, 25, 10])[0],
            "diagnosis_group": rng.choices(DIAGNOSIS, [45, 10, 10, 25, 10])[0],
            "benefit_type": rng.choices(BENEFITS, [50, 25, 10, 15])[0],
            "months_since_work": rng.choice([0, 3, 6, 12, 24, 36, 60]),
        }

    def screen(self, site: Site, enrolled_on: dt.date) -> ScreeningRecord:
        """Screen people at ``site`` until one is eligible and agrees; their record."""
        rng = self.rng
        # About 2 in 3 people screened are eligible; 1 in 8 eligible decline.
        while True:
            screened_on = enrolled_on - dt.timedelta(days=rng.randint(0, 10))
            eligible = rng.random() < 0.68
            declined = eligible and rng.random() < 0.12
            record = services.record_screening(
                self.trial,
                site=site,
                screened_on=screened_on,
                eligible=eligible,
                exclusion_reason=None if eligible else rng.choices(self.reasons, [3, 4, 2, 1])[0],
                declined=declined,
                actor=self.actor,
            )
            if eligible and not declined:
                return record

    def enrol(self, enrolled_on: dt.date, *, start: dt.date) -> Participant:
        """Screen and enrol one participant on ``enrolled_on``."""
        rng = self.rng
        site = rng.choices(self.sites, self.weights)[0]
        age = rng.randint(18, 29)
        birth = enrolled_on - dt.timedelta(days=age * 365 + rng.randint(0, 364))
        baseline = self.baseline(age)
        record = self.screen(site, enrolled_on)
        return services.enrol_participant(
            self.trial,
            site=site,
            personal_number=self.new_number(birth),
            enrolled_on=enrolled_on,
            consent_version=consent_version_on(enrolled_on, start=start),
            consent_date=enrolled_on,
            baseline=baseline,
            screening=record,
            actor=self.actor,
            suffix=self.suffix,
        )
