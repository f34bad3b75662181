"""The whole demo trial: ``trial.demo`` builds set-up and follow-up; this adds what the apps
built on ``trial`` contribute (a real stratified block scheme and its allocation log)."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from typing import Any

from django.utils import timezone

from economics.demo import seed_unit_costs
from fidelity.adaptations.demo import seed_adaptations
from fidelity.contacts.demo import ContactDemo
from fidelity.reviews.demo import seed_fidelity_reviews
from instruments import library
from instruments import services as instruments
from instruments.models import Instrument
from instruments.setup import services as instrument_setup
from occupations.demo import load_illustrative_jem
from pathways import demo as pathways_demo
from randomisation.allocation import chain
from randomisation.allocation import services as allocation_services
from randomisation.models import Allocation, Scheme
from randomisation.schemes import services as scheme_services
from surveys.consent.demo import seed_consent_texts
from trial.demo import DEMO_TRIAL_CODE, ENROLMENT_DAYS_BEFORE, DemoHooks, DemoResult
from trial.demo import seed_demo as seed_trial
from trial.models import Participant, Trial, Visit


class FullDemo(DemoHooks):
    def __init__(self, as_of: dt.date | None = None, seed: int = 1) -> None:
        self.as_of = as_of or timezone.localdate()
        self.seed = seed

    def trial_ready(self, trial: Trial, coordinator: Any) -> None:
        scheme = Scheme.objects.create(
            trial=trial,
            method=Scheme.Method.BLOCKS,
            block_sizes=[4, 6],
            stratify_by_site=True,
            notes="Permuted blocks of 4 and 6, stratified by NAV office.",
        )
        # The allocation lists from the demo's seed: the same demo, and the same reports,
        # on every machine.
        demo_seed = hashlib.sha256(f"demo allocation {self.seed}".encode()).digest()
        scheme_services.lock_scheme(scheme, actor=coordinator, demo_seed=demo_seed)
        load_illustrative_jem(trial, coordinator)
        pathways_demo.prepare(trial, coordinator)
        seed_unit_costs(trial, coordinator)
        seed_fidelity_reviews(trial, actor=coordinator, as_of=self.as_of)
        self.contacts = ContactDemo(trial, coordinator, self.as_of)
        seed_adaptations(trial, actor=coordinator, as_of=self.as_of)
        self.employment, self.well_being = demo_instruments(trial, coordinator)
        seed_consent_texts(
            trial, coordinator, start=self.as_of - dt.timedelta(days=ENROLMENT_DAYS_BEFORE)
        )

    def randomise(self, participant: Participant, on: dt.date, actor: Any) -> None:
        allocation_services.randomise(participant, actor=actor, on=on)

    def arm(self, participant: Participant) -> str:
        allocations = Allocation.objects.filter(participant=participant)
        return allocations.values_list("arm__code", flat=True).first() or ""

    def assess(self, visit: Visit, values: dict[str, Any], actor: Any) -> None:
        instruments.record_assessment(visit, values=values, actor=actor, instrument=self.employment)
        self._well_being(visit, values["assessed_on"], actor)

    def _well_being(self, visit: Visit, assessed_on: dt.date, actor: Any) -> None:
        """WHO-5 answers drawn from their own generator (seeded by the participant and visit), so
        the employment answers and everything after them stay as they were: the intervention
        arm's well-being rises over follow-up, and about one in fifty leaves an item unanswered."""
        rng = random.Random(f"who5 {visit.participant.study_id} {visit.definition.code}")  # noqa: S311 - synthetic data
        lift = (
            0.6 * visit.definition.offset_months / 18 if self.arm(visit.participant) == "A" else 0
        )
        level = 2.2 + lift + rng.gauss(0, 0.7)
        values: dict[str, Any] = {"assessed_on": assessed_on}
        missing: dict[str, str] = {}
        for number in range(1, 6):
            name = f"who5_{number}"
            if rng.random() < 0.004:
                missing[name] = "refused"
            else:
                values[name] = max(0, min(5, round(level + rng.gauss(0, 0.8))))
        instruments.record_assessment(
            visit, values=values, missing=missing, actor=actor, instrument=self.well_being
        )

    def participant_done(
        self, participant: Participant, rng: random.Random, as_of: dt.date, actor: Any
    ) -> None:
        seed_pathways(participant, as_of)
        self.contacts.seed(participant)
        seed_effect(participant)


def demo_instruments(trial: Trial, coordinator: Any) -> tuple[Instrument, Instrument]:
    """The demo's two instruments, asked at every visit: the built-in "Employment and
    benefits" and the WHO-5 Well-being Index from the library (a validated scale, free to use)."""
    employment = instrument_setup.default_instrument(trial, actor=coordinator)
    well_being = instrument_setup.create_instrument(
        trial,
        code="who5",
        name_en="Well-being (WHO-5)",
        name_nb="Trivsel (WHO-5)",
        definition=library.add_to_definition({"items": []}, "who5"),
        actor=coordinator,
    )
    visits = list(trial.visit_definitions.all())
    instrument_setup.attach_instrument(employment, visits, actor=coordinator)
    instrument_setup.attach_instrument(well_being, visits, actor=coordinator)
    return employment, well_being


def seed_pathways(participant: Participant, as_of: dt.date) -> None:
    """Register spells for the demo: 24 months per participant, the intervention arm reaching
    work sooner and some people cycling between work and benefits (``pathways.demo``)."""
    pathways_demo.seed_spells(participant, as_of)


def seed_effect(participant: Participant) -> None:
    """Give the intervention arm an effect on work: about one in four of its assessments not
    in paid work become part-time work. A generator of its own per participant, so the rest of
    the demo draws the same numbers as without it."""
    from instruments.models import Assessment

    allocation = getattr(participant, "allocation", None)
    if allocation is None or allocation.arm.is_control:
        return
    rng = random.Random(f"effect-{participant.study_id}")  # noqa: S311 - synthetic data
    candidates = Assessment.objects.filter(
        visit__participant=participant, values__in_paid_work=False
    ).order_by("pk")
    chosen = [a for a in candidates if rng.random() < 0.25]
    for assessment in chosen:
        values = {k: v for k, v in assessment.values.items() if k != "benefit_type"}
        values.update(
            in_paid_work=True, hours_per_week=20.0, monthly_earnings=16000, on_benefits=False
        )
        assessment.values = values
    Assessment.objects.bulk_update(chosen, ["values"])


def seed_analysis_plan(trial: Trial) -> None:
    """A locked statistical analysis plan, so that the effect report can be ordered at once."""
    from django.contrib.auth import get_user_model

    from reports import services as reports

    statistician = get_user_model().objects.get(username="statistician")
    plan = reports.save_plan_draft(
        trial,
        values={
            # The primary outcome comes from the registers (as in most Norwegian trials of
            # work inclusion): months in work in the first year after randomisation.
            "primary_outcome": "months_in_work_0_12",
            "time_point": "m12",
            "secondary_outcomes": [
                "time_to_first_work",
                "in_work_at_12",
                "in_paid_work",
                "hours_per_week",
                "monthly_earnings",
                "self_rated_health",
            ],
            "analysis_model": (
                "Months in work in months 1-12 from the register spells: difference in means "
                "by ANCOVA with HC3 robust standard errors, adjusted for site, sex and age. "
                "Time to first work from register dates by Kaplan-Meier and Cox regression. "
                "Complier-average causal effect by instrumental variables beside the ITT."
            ),
            "covariates": ["site", "sex", "age"],
            "missing": "complete_case",
            "subgroups": ["sex", "diagnosis_group"],
            "notes": "Demo plan.",
        },
        actor=statistician,
    )
    reports.lock_plan(plan, actor=statistician)


def seed_demo(
    *, participants: int = 600, seed: int = 1, as_of: dt.date | None = None
) -> DemoResult:
    if not Trial.objects.filter(code=DEMO_TRIAL_CODE).exists():
        # A witness file left by an earlier demo database (deleted, then seeded again)
        # describes a log that no longer exists: kept aside, not compared with the new log.
        chain.retire_witness(DEMO_TRIAL_CODE)
    result = seed_trial(
        participants=participants, seed=seed, as_of=as_of, hooks=FullDemo(as_of=as_of, seed=seed)
    )
    seed_analysis_plan(result.trial)
    return result
