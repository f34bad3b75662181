"""A synthetic IPS-like employment-support trial for demonstrations and benchmarks.

Everything is drawn from one seeded generator, so the same seed gives the same trial. Personal
numbers are synthetic test numbers (month + 80, as in Skatteetaten's Tenor test data), so no
real person's number can appear.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import transaction

from trial import audit, personal_numbers, services
from trial.models import Arm, Membership, Participant, Site, Trial

DEMO_TRIAL_CODE = "ips-demo"
DEMO_PASSWORD = "demo-trials-2026"  # noqa: S105 - published demo login, see README

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


@dataclass
class DemoResult:
    trial: Trial
    participants: int
    users: list[str]


def synthetic_personal_number(rng: random.Random, birth: dt.date) -> str:
    """A valid synthetic test number (month + 80) for someone born on ``birth``."""
    while True:
        individual = rng.randint(500, 999) if birth.year >= 2000 else rng.randint(0, 499)
        first_nine = f"{birth.day:02d}{birth.month + 80:02d}{birth.year % 100:02d}{individual:03d}"
        check = personal_numbers.check_digits(first_nine)
        if check is not None:
            return first_nine + check


def seed_demo(*, participants: int = 600, seed: int = 1) -> DemoResult:
    """Create the demo trial with its sites, arms, users and participants.

    Refuses (ValueError) if the demo trial exists already. Deterministic for a seed.
    """
    if Trial.objects.filter(code=DEMO_TRIAL_CODE).exists():
        raise ValueError(f"the demo trial {DEMO_TRIAL_CODE!r} exists already")
    rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data, not security
    User = get_user_model()
    with transaction.atomic():
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
        sites = {}
        for code, name, municipality, region in SITES:
            site = Site.objects.create(
                trial=trial, code=code, name=name, municipality_number=municipality, region=region
            )
            audit.record_created(site, actor=None)
            sites[code] = site

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

        coordinator = User.objects.get(username="coordinator")
        # Larger offices recruit more: weights are fixed per site.
        weights = [rng.uniform(0.5, 1.5) for _ in SITES]
        site_list = list(sites.values())
        start = dt.date(2025, 1, 6)
        used_suffixes: set[str] = set()

        def suffix() -> str:
            while True:
                value = "".join(rng.choice(services.STUDY_ID_ALPHABET) for _ in range(6))
                if value not in used_suffixes:
                    used_suffixes.add(value)
                    return value

        for i in range(participants):
            site = rng.choices(site_list, weights)[0]
            enrolled_on = start + dt.timedelta(days=int(i * 540 / max(participants, 1)))
            age = rng.randint(18, 29)
            birth = enrolled_on - dt.timedelta(days=age * 365 + rng.randint(0, 364))
            baseline = {
                "age": age,
                "sex": rng.choice(["female", "male"]),
                "education": rng.choices(EDUCATION, [30, 35, 25, 10])[0],
                "diagnosis_group": rng.choices(DIAGNOSIS, [45, 10, 10, 25, 10])[0],
                "benefit_type": rng.choices(BENEFITS, [50, 25, 10, 15])[0],
                "months_since_work": rng.choice([0, 3, 6, 12, 24, 36, 60]),
            }
            services.enrol_participant(
                trial,
                site=site,
                personal_number=synthetic_personal_number(rng, birth),
                enrolled_on=enrolled_on,
                baseline=baseline,
                actor=coordinator,
                suffix=suffix,
            )
    return DemoResult(
        trial=trial, participants=Participant.objects.filter(trial=trial).count(), users=usernames
    )
