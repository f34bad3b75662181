"""A world for the authorisation matrix, built once per module.

Two trials: ``ips`` (sites OSLA, OSLB, BGO; one persona per role, the caseworker at OSLA only)
and ``other`` (site TRD; the ``outsider`` is its coordinator). Each trial holds one object of
every kind a URL can name (participant, visit, contact, review, report, …), so every route can
be asked about an object inside the user's scope, at a site outside a caseworker's sites, and in
the other trial. Tests run inside the module's transaction and each test is rolled back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client, override_settings

from economics.models import UnitCost
from fidelity.models import Adaptation, Component, Contact, Exposure, Review
from fidelity.scales import services as scales
from instruments import services as instrument_services
from instruments.setup import services as instrument_setup
from occupations.models import JobExposureMatrix
from pathways import services as pathway_services
from pathways.models import QualityFlag, Spell, SpellImport, SpellState
from randomisation.models import Allocation, Scheme, SimulationRun
from reports.models import AnalysisPlan, ReportRequest
from reports.services import report_folder
from surveys.consent import pdf as consent_pdf
from surveys.consent.models import ConsentRecord, ConsentText
from tests import factories
from tests.conftest import PERSONAS, TEST_CHAIN_KEY, verified_login
from trial.models import (
    Arm,
    CovariateDefinition,
    ExclusionReason,
    Membership,
    Participant,
    Site,
    SiteAssignment,
    Trial,
    Visit,
    VisitDefinition,
)
from trial.permissions import SITE_SCOPED_ROLES
from trialimport.models import TrialImport

# Distinctive arm names, so that a blinded user's pages can be scanned for them.
ARM_NAMES = {"A": "Zephyrine Placement", "B": "Quokka Usual Care"}


@dataclass
class MatrixWorld:
    """Objects by trial code, then kind, then place ("inside", "other_site")."""

    trials: dict[str, Trial]
    users: dict[str, User]
    memberships: dict[tuple[str, str], Membership]
    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    participants: dict[str, list[Participant]] = field(default_factory=dict)
    # Who wrote the contact by trial code and place (a row rule: only the author may change it).
    authors: dict[tuple[str, str], str] = field(default_factory=dict)
    clients: dict[str, Client] = field(default_factory=dict)
    cookies: dict[str, SimpleCookie] = field(default_factory=dict)

    def sign_in(self) -> None:
        """A client per persona, signed in while the world is built, so that the session
        outlives every test's rollback. Each request starts from these cookies."""
        for persona in [*self.users, "anonymous"]:
            client = Client()
            if persona != "anonymous":
                # As after password and second factor: roles that can unblind or download
                # must use two-factor sign-in, and this matrix is about roles and scope.
                verified_login(client, self.users[persona])
            self.clients[persona] = client
            self.cookies[persona] = SimpleCookie(client.cookies.output(header="", sep="\n"))

    def client(self, persona: str) -> Client:
        return self.clients[persona]

    def hidden_study_ids(self, persona: str) -> list[str]:
        """Study ids the persona may not see: other trials', and other sites' for those
        limited to some sites."""
        seen: set[str] = set()
        for (name, _code), m in self.memberships.items():
            if name != persona:
                continue
            sites = {s.code for s in m.sites.all()} if m.role in SITE_SCOPED_ROLES else None
            for people in self.participants.values():
                seen |= {
                    p.study_id
                    for p in people
                    if p.trial_id == m.trial_id and (sites is None or p.site.code in sites)
                }
        every = {p.study_id for people in self.participants.values() for p in people}
        return sorted(every - seen)


def _allocate(participant: Participant, arm: Arm, actor: User) -> Allocation:
    return factories.randomise(participant, arm, actor=actor)


def _populate(
    trial: Trial,
    places: dict[str, Site],
    *,
    coordinator: User,
    authors: dict[str, User],
    reviewer: User,
) -> dict[str, dict[str, Any]]:
    """One object of every kind; site-bound kinds once per place."""
    objects: dict[str, dict[str, Any]] = {}

    def put(kind: str, place: str, value: Any) -> None:
        objects.setdefault(kind, {})[place] = value

    Trial.objects.filter(pk=trial.pk).update(status=Trial.Status.RECRUITING)
    trial.refresh_from_db()
    arms = {arm.code: arm for arm in trial.arms.all()}
    put("arm", "inside", arms["A"].pk)
    definition = VisitDefinition.objects.create(
        trial=trial, code="m3", label="3 months", offset_months=3
    )
    put("visit_definition", "inside", definition.pk)
    put("reason", "inside", ExclusionReason.objects.create(trial=trial, code="age", label="Age").pk)
    covariate = CovariateDefinition.objects.create(
        trial=trial, key="sex", label="Sex", kind="choice", choices=[["f", "F"], ["m", "M"]]
    )
    put("covariate", "inside", covariate.pk)
    # A participant's link names no trial and no object a member could reach: the matrix asks
    # with a well-formed token that opens nothing (tests/surveys covers real links).
    put("survey_link", "inside", "0" * 64)
    component = Component.objects.create(trial=trial, code="rapid", name="Rapid job search")
    for place, site in places.items():
        put("site", place, site.pk)
        allocated, unallocated = Participant.objects.filter(trial=trial, site=site)[:2]
        allocation = _allocate(allocated, arms["A"], coordinator)
        put("participant", place, allocated.study_id)
        put("unallocated", place, unallocated.study_id)
        put("allocation", place, allocation.sequence)
        visit = Visit.objects.get(participant=allocated)
        put("visit", place, visit.pk)
        # Answers to the trial's default instrument at the visit (which completes it).
        record = instrument_services.record_assessment(
            visit,
            values={"assessed_on": visit.due_on, "in_paid_work": False, "on_benefits": False},
            actor=coordinator,
        )
        put("assessment", place, record.pk)
        contact = Contact.objects.create(
            trial=trial,
            site=site,
            participant=allocated,
            author=authors[place],
            author_name=authors[place].get_username(),
            contact_on=dt.date(2025, 4, 1),
            mode="meeting",
            minutes=30,
        )
        contact.components.set([component])
        put("contact", place, contact.pk)
        adaptation = Adaptation.objects.create(
            trial=trial,
            site=site,
            adapted_on=dt.date(2025, 4, 2),
            component=component,
            description="Shorter job-search sessions",
            recorded_by=coordinator,
            recorded_by_name=coordinator.get_username(),
        )
        put("adaptation", place, adaptation.pk)
    scale = scales.add_template_scale(trial, actor=coordinator)
    put("scale", "inside", scale.pk)
    put("item", "inside", scale.items.order_by("number").first().number)  # type: ignore[union-attr]
    for place, site in places.items():
        review = Review.objects.create(
            trial=trial, site=site, scale=scale, review_date=dt.date(2025, 5, 1)
        )
        review.reviewers.set([reviewer])
        put("review", place, review.pk)
    scheme = Scheme.objects.create(trial=trial, method=Scheme.Method.BLOCKS)
    put("simulation", "inside", SimulationRun.objects.create(scheme=scheme).pk)
    put("export", "inside", "allocations")
    # A locked plan (version 1) and a draft of version 2: locking the plan must not unblind.
    locked = AnalysisPlan.objects.create(
        trial=trial,
        version=1,
        status=AnalysisPlan.Status.LOCKED,
        primary_outcome="work",
        locked_at=dt.datetime(2025, 1, 2, tzinfo=dt.UTC),
        content_hash="0" * 64,
    )
    AnalysisPlan.objects.create(
        trial=trial,
        version=2,
        status=AnalysisPlan.Status.DRAFT,
        primary_outcome="work",
        supersedes=locked,
        reason="Matrix test",
    )
    put("plan_version", "inside", 1)
    report = ReportRequest.objects.create(
        trial=trial,
        kind="effect",
        cut_off=dt.date(2025, 6, 30),
        seed=1,
        blinded=False,
        status=ReportRequest.Status.DONE,
        pdf_file="report.pdf",
        requested_by=coordinator,
        requested_by_name=coordinator.get_username(),
    )
    folder = report_folder(trial)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.pdf").write_bytes(b"%PDF-1.4 matrix test\n")
    put("report", "inside", report.pk)
    put("which", "inside", "pdf")
    pathway_services.add_standard_alphabet(trial, actor=coordinator)
    states = list(SpellState.objects.filter(trial=trial).order_by("priority")[:2])
    put("state", "inside", states[0].pk)
    first = Participant.objects.filter(trial=trial).order_by("pk").first()
    assert first is not None
    spells = [
        Spell.objects.create(
            trial=trial,
            participant=first,
            state=state,
            starts_on=dt.date(2025, 3, 1),
            ends_on=dt.date(2025, 5, 1),
            source="register",
        )
        for state in states
    ]
    flag = QualityFlag.objects.create(
        trial=trial,
        participant=first,
        kind="overlap",
        spell=spells[0],
        other_spell=spells[1],
        overlap_from=dt.date(2025, 3, 1),
    )
    put("flag", "inside", flag.pk)
    spell_import = SpellImport.objects.create(
        trial=trial,
        file_name="spells.csv",
        file_sha256="0" * 64,
        default_source="register",
        status=SpellImport.Status.CHECKED,
        uploaded_by=coordinator,
        uploaded_by_name=coordinator.get_username(),
    )
    put("spell_import", "inside", spell_import.pk)
    trial_import = TrialImport.objects.create(
        trial=trial,
        file_names=["participants.csv"],
        status=TrialImport.Status.CHECKED,
        report={"ok": True, "created": 1, "files": {}, "errors": []},
        uploaded_by=coordinator,
        uploaded_by_name=coordinator.get_username(),
    )
    put("trial_import", "inside", trial_import.pk)
    matrix = JobExposureMatrix.objects.create(trial=trial, name="JEM", version="1", file_hash="0")
    put("jem", "inside", matrix.pk)
    unit_cost = UnitCost.objects.create(
        trial=trial,
        kind=UnitCost.Kind.STAFF_MINUTE,
        key="caseworker",
        amount=10,
        price_year=2025,
        valid_from=dt.date(2025, 1, 1),
    )
    put("unit_cost", "inside", unit_cost.pk)
    # A published consent text in force, and a signed consent (with its PDF) per place.
    text = ConsentText.objects.create(
        trial=trial,
        version="1.0",
        text_nb="Tekst",
        text_en="Text",
        effective_on=dt.date(2025, 1, 1),
        status=ConsentText.Status.PUBLISHED,
        published_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    )
    put("consent_text", "inside", text.pk)
    consent_pdf.folder(trial.code).mkdir(parents=True, exist_ok=True)
    for place in places:
        record = ConsentRecord.objects.create(
            participant=Participant.objects.get(
                trial=trial, study_id=objects["participant"][place]
            ),
            text=text,
            outcome=ConsentRecord.Outcome.CONSENTED,
            language="nb",
            channel=ConsentRecord.Channel.LINK,
            recorded_at=dt.datetime(2025, 1, 2, tzinfo=dt.UTC),
            text_sha256="0" * 64,
            pdf_file=f"consent-matrix-{place}.pdf",
        )
        (consent_pdf.folder(trial.code) / record.pdf_file).write_bytes(b"%PDF-1.4 matrix\n")
        put("consent_record", place, record.pk)
    membership = Membership.objects.get(trial=trial, user=authors["inside"])
    put("membership", "inside", membership.pk)
    assignment = SiteAssignment.objects.create(
        membership=membership, site=next(iter(places.values())), starts_on=dt.date(2025, 1, 1)
    )
    put("assignment", "inside", assignment.pk)
    event = Exposure.objects.create(
        trial=trial,
        site=next(iter(places.values())),
        source=Exposure.Source.SITE_EVENT,
        exposed_on=dt.date(2025, 4, 3),
        note="Staff attended a course in the method",
    )
    put("site_event", "inside", event.pk)
    instrument = instrument_setup.create_instrument(
        trial,
        code=f"wellbeing-{trial.code}",
        name_en="Well-being",
        name_nb="Trivsel",
        definition={
            "items": [
                {"name": f"mood_{trial.code}", "type": "integer", "label": "Mood", "min": 0},
                {"name": f"sleep_{trial.code}", "type": "integer", "label": "Sleep"},
            ],
            "scales": [
                {"name": f"wb_{trial.code}", "items": [f"mood_{trial.code}", f"sleep_{trial.code}"]}
            ],
        },
        actor=coordinator,
    )
    put("instrument", "inside", instrument.code)
    put("instrument_item", "inside", 1)
    put("instrument_scale", "inside", 1)
    return objects


def build_matrix_world() -> MatrixWorld:
    ips = factories.make_trial(code="ips", title="IPS trial")
    for code, name in ARM_NAMES.items():
        Arm.objects.filter(trial=ips, code=code).update(name=name)
    other = factories.make_trial(code="other", title="Another trial")
    sites = {code: factories.make_site(ips, code) for code in ("OSLA", "OSLB", "BGO")}
    trd = factories.make_site(other, "TRD")
    users: dict[str, User] = {}
    memberships: dict[tuple[str, str], Membership] = {}
    for persona, (role, site_idx, unblinded) in PERSONAS.items():
        user = factories.make_user(f"mx-{persona}")
        site_list = [list(sites.values())[i] for i in site_idx] if site_idx is not None else []
        memberships[(persona, "ips")] = factories.make_membership(
            user, ips, role, site_list, unblinded=unblinded
        )
        users[persona] = user
    outsider = factories.make_user("mx-outsider")
    users["outsider"] = outsider
    # The outsider coordinates the other trial, and is the author and reviewer of its objects.
    memberships[("outsider", "other")] = factories.make_membership(
        outsider, other, Membership.Role.COORDINATOR
    )
    world = MatrixWorld(
        trials={"ips": ips, "other": other},
        users=users,
        memberships=memberships,
        authors={
            ("ips", "inside"): "caseworker",
            ("ips", "other_site"): "coordinator",
            ("other", "inside"): "outsider",
        },
    )
    for site in [*sites.values(), trd]:
        world.participants[site.code] = [
            factories.make_participant(site.trial, site) for _ in range(2)
        ]
    world.objects["ips"] = _populate(
        ips,
        {"inside": sites["OSLA"], "other_site": sites["BGO"]},
        coordinator=users["coordinator"],
        authors={"inside": users["caseworker"], "other_site": users["coordinator"]},
        reviewer=users["reviewer"],
    )
    world.objects["other"] = _populate(
        other,
        {"inside": trd},
        coordinator=outsider,
        authors={"inside": outsider},
        reviewer=outsider,
    )
    world.sign_in()
    return world


@pytest.fixture(autouse=True)
def files_of_the_tests_own() -> None:
    """The matrix world's files stay in its module-wide folder (set in ``matrix_world``)."""


@pytest.fixture(scope="module")
def matrix_world(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MatrixWorld]:
    """The world, inside a transaction that is rolled back when the module ends."""
    files = tmp_path_factory.mktemp("matrix-files")
    with (
        override_settings(
            FILES_ROOT=files,
            PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
            ALLOCATION_CHAIN_KEYS=[TEST_CHAIN_KEY],
            ALLOCATION_WITNESS_DIR="",
        ),
        django_db_blocker.unblock(),
        transaction.atomic(),
    ):
        world = build_matrix_world()
        yield world
        transaction.set_rollback(True)
