"""The demo trial's contact log and contamination (called from ``demo.seed``).

Intervention participants get weekly-ish contacts of 30–60 minutes with IPS components and
job-development contacts with employers; control participants a few usual-service contacts.
Two control offices see contamination rising over time: control participants there receive
intervention-specific components more often as the trial goes on, one office has a site-level
event (staff trained in IPS), and one control participant there says yes at follow-up.

Rows are written with ``bulk_create`` (no per-contact audit events: this is synthetic data).
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from django.contrib.auth import get_user_model

from fidelity.contamination import services as contamination
from fidelity.models import Component, Contact, Exposure
from instruments.models import Assessment
from randomisation.models import Allocation
from trial.models import Membership, Participant, Site, SiteAssignment, Trial, Visit

COMPONENTS = [
    # code, name, intervention-specific
    ("rapid_search", "Rapid job search", True),
    ("job_development", "Job development with employers", True),
    ("follow_along", "Follow-along support in the job", True),
    ("integrated_care", "Integration with the mental-health team", True),
    ("benefits", "Benefits counselling", False),
    ("cv", "CV and application help", False),
]
CONTAMINATED_SITES = ("BGO", "TRD")
QUESTION = (
    "Since the last assessment, has anyone helped you look for ordinary paid work and followed "
    "you up in the job?"
)
LOSS_SILENCE_DAYS = 21
"""No contacts in this many days before a loss to follow-up: the weeks of failed attempts."""
AUTHORS = {"OSL1": "caseworker", "OSL2": "caseworker", "BGO": "caseworker-bergen"}


class ContactDemo:
    """Keeps what the per-participant calls share: components, authors, the trial's start."""

    def __init__(self, trial: Trial, coordinator: Any, as_of: dt.date) -> None:
        self.trial = trial
        self.coordinator = coordinator
        self.as_of = as_of
        self.start = as_of - dt.timedelta(days=700)
        trial.contamination_question = QUESTION
        trial.save(update_fields=["contamination_question"])
        self.components = {
            code: Component.objects.create(
                trial=trial, code=code, name=name, intervention_specific=specific, order=i
            )
            for i, (code, name, specific) in enumerate(COMPONENTS)
        }
        users = {u.username: u for u in get_user_model().objects.filter(memberships__trial=trial)}
        self.users = users
        # Dated assignments for the caseworkers: where they work now, since the trial began.
        for membership in Membership.objects.filter(
            trial=trial, role=Membership.Role.CASEWORKER
        ).prefetch_related("sites"):
            SiteAssignment.objects.bulk_create(
                SiteAssignment(membership=membership, site=site, starts_on=self.start)
                for site in membership.sites.all()
            )
        self.site_event_done = False
        self.assessment_report_done = False

    def _author(self, participant: Participant) -> Any:
        return self.users.get(AUTHORS.get(participant.site.code, ""), self.coordinator)

    def contamination_chance(self, day: dt.date) -> float:
        """At a contaminated control office: 5 % of contacts early on, rising to 55 %."""
        share = (day - self.start).days / max((self.as_of - self.start).days, 1)
        return 0.05 + 0.5 * min(max(share, 0.0), 1.0)

    def seed(self, participant: Participant) -> None:
        """Write the participant's contacts, drawn from a generator seeded by the study id (so
        the demo's other data, drawn from the shared generator, stays as it was)."""
        rng = random.Random(participant.study_id)  # noqa: S311 - synthetic data
        allocation = (
            Allocation.objects.filter(participant=participant).select_related("arm").first()
        )
        if allocation is None:
            return
        control = allocation.arm.is_control
        withdrawal = getattr(participant, "withdrawal", None)
        end = min(self.as_of, withdrawal.withdrawn_on if withdrawal else self.as_of)
        # Nobody has reached a participant lost to follow-up in the weeks before the loss.
        loss = getattr(participant, "loss_to_follow_up", None)
        if loss is not None:
            end = min(end, loss.lost_on - dt.timedelta(days=LOSS_SILENCE_DAYS))
        # Support fades after about nine months in the intervention arm.
        end = min(end, allocation.allocated_on + dt.timedelta(days=270 if not control else 365))
        author = self._author(participant)
        contaminated_site = control and participant.site.code in CONTAMINATED_SITES
        day = allocation.allocated_on
        planned: list[tuple[Contact, list[Component]]] = []
        c = self.components
        while True:
            day += dt.timedelta(days=rng.randint(5, 11) if not control else rng.randint(45, 100))
            if day > end:
                break
            if control:
                chosen = [rng.choice([c["benefits"], c["cv"]])]
                if contaminated_site and rng.random() < self.contamination_chance(day):
                    chosen.append(rng.choice([c["rapid_search"], c["job_development"]]))
                partners = ["participant"]
                minutes = rng.choice([15, 20, 30])
            else:
                chosen = rng.sample(
                    [c["rapid_search"], c["job_development"], c["follow_along"], c["benefits"]],
                    rng.randint(1, 2),
                )
                if rng.random() < 0.2:
                    chosen.append(c["integrated_care"])
                partners = ["participant"] + (
                    ["employer"] if c["job_development"] in chosen and rng.random() < 0.5 else []
                )
                if rng.random() < 0.1:
                    partners.append("health_service")
                minutes = rng.choice([30, 30, 45, 45, 60])
            mode = rng.choices(["in_person", "phone", "video", "message"], [6, 3, 1, 1])[0]
            contact = self._contact(participant.site, participant, author, day, mode, minutes)
            contact.partners = partners
            planned.append((contact, chosen))
            # Job development with employers, about no single participant.
            if not control and rng.random() < 0.15:
                employer = self._contact(participant.site, None, author, day, "in_person", 45)
                employer.partners = ["employer"]
                planned.append((employer, [c["job_development"]]))
        self._write(planned, participant if control else None)
        if contaminated_site:
            self._site_event(participant)
            self._assessment_report(participant)

    def _contact(
        self,
        site: Site,
        participant: Participant | None,
        author: Any,
        day: dt.date,
        mode: str,
        minutes: int,
    ) -> Contact:
        return Contact(
            trial=self.trial,
            site=site,
            participant=participant,
            author=author,
            author_name=author.get_username(),
            contact_on=day,
            mode=mode,
            minutes=minutes,
        )

    def _write(
        self, planned: list[tuple[Contact, list[Component]]], control: Participant | None
    ) -> None:
        contacts = Contact.objects.bulk_create([contact for contact, _chosen in planned])
        Through = Contact.components.through
        Through.objects.bulk_create(
            Through(contact_id=contact.pk, component_id=component.pk)
            for contact, (_planned, chosen) in zip(contacts, planned, strict=True)
            for component in chosen
        )
        if control is None:
            return
        Exposure.objects.bulk_create(
            Exposure(
                trial=self.trial,
                participant=control,
                site=control.site,
                source=Exposure.Source.CONTACT,
                component=component,
                exposed_on=contact.contact_on,
                contact=contact,
            )
            for contact, (_planned, chosen) in zip(contacts, planned, strict=True)
            for component in chosen
            if component.intervention_specific
        )

    def _site_event(self, participant: Participant) -> None:
        if self.site_event_done or participant.site.code != CONTAMINATED_SITES[0]:
            return
        self.site_event_done = True
        contamination.record_site_event(
            self.trial,
            site=participant.site,
            occurred_on=self.as_of - dt.timedelta(days=240),
            components=[self.components["rapid_search"], self.components["job_development"]],
            note="Three caseworkers at the office attended a two-day IPS course.",
            actor=self.coordinator,
        )

    def _assessment_report(self, participant: Participant) -> None:
        if self.assessment_report_done:
            return
        assessment = (
            Assessment.objects.filter(visit__participant=participant)
            .select_related("visit__participant", "visit__definition")
            .order_by("-assessed_on")
            .first()
        )
        if assessment is None:
            return
        self.assessment_report_done = True
        # The answer belongs to the visit (asked once, whatever the instruments there).
        Visit.objects.filter(pk=assessment.visit_id).update(contamination_reported=True)
        assessment.visit.contamination_reported = True
        contamination.record_assessment_exposure(assessment, actor=self.coordinator)
