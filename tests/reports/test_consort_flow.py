"""The report's CONSORT diagram: every box reconciles with counts taken from the database."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

from django.db.models import Count

from fidelity.models import Contact, Exposure
from instruments.models import Assessment
from reports import extract, pipeline
from reports.analysis.consort import consort_counts
from tests.reports.conftest import CUT_OFF, ReportWorld, lock_plan
from tests.reports.outputs import pdf_text, spec_for
from trial import services as trial_services
from trial.models import (
    ExclusionReason,
    LossToFollowUp,
    Participant,
    ScreeningRecord,
    Withdrawal,
)


def by_id(rw: ReportWorld) -> dict[str, Participant]:
    return {p.study_id: p for p in rw.people}


def history(rw: ReportWorld) -> None:
    """Screening for everyone plus four not randomised; a withdrawal in A, a loss in B, a contact
    in A and an exposure in B."""
    people = by_id(rw)
    coordinator = rw.world.users["coordinator"]
    too_old = ExclusionReason.objects.create(trial=rw.trial, code="age", label="Too old")
    for person in rw.people:
        ScreeningRecord.objects.create(
            trial=rw.trial,
            site=person.site,
            screened_on=dt.date(2024, 1, 2),
            eligible=True,
            participant=person,
        )
    site = rw.world.sites[0]
    for eligible, declined, reason in (
        (False, False, too_old),
        (False, False, too_old),
        (True, True, None),
        (True, False, None),
    ):
        ScreeningRecord.objects.create(
            trial=rw.trial,
            site=site,
            screened_on=dt.date(2024, 1, 3),
            eligible=eligible,
            declined=declined,
            exclusion_reason=reason,
        )
    trial_services.withdraw_participant(
        people["R05"],
        withdrawn_on=dt.date(2025, 2, 1),
        scope="no_data",
        reason="Moved",
        actor=coordinator,
    )
    trial_services.mark_lost_to_follow_up(
        people["R10"], lost_on=dt.date(2025, 3, 1), reason="moved", actor=coordinator
    )
    Contact.objects.create(
        trial=rw.trial,
        site=site,
        participant=people["R00"],
        author=coordinator,
        author_name="coordinator",
        contact_on=dt.date(2024, 2, 1),
        mode="phone",
        minutes=20,
    )
    Exposure.objects.create(
        trial=rw.trial,
        participant=people["R06"],
        site=site,
        source="assessment",
        exposed_on=dt.date(2024, 6, 1),
    )


def test_consort_counts_reconcile_with_the_database(rworld: ReportWorld) -> None:
    history(rworld)
    data = extract.effect_data(rworld.trial, CUT_OFF)
    screening, flow = extract.consort_frames(rworld.trial, CUT_OFF, data, "m12")
    counts = consort_counts(screening, flow)
    trial = rworld.trial
    assert counts.assessed == ScreeningRecord.objects.filter(trial=trial).count() == 16
    assert counts.randomised == trial.participants.filter(allocation__isnull=False).count() == 12
    assert (counts.not_eligible, counts.declined, counts.other_reasons) == (2, 1, 1)
    assert counts.not_eligible_reasons == {"Too old": 2}
    allocated = dict(
        trial.participants.values_list("allocation__arm__code").annotate(n=Count("id"))
    )
    lost = dict(
        LossToFollowUp.objects.filter(participant__trial=trial)
        .values_list("participant__allocation__arm__code")
        .annotate(n=Count("id"))
    )
    withdrawn = dict(
        Withdrawal.objects.filter(participant__trial=trial)
        .values_list("participant__allocation__arm__code")
        .annotate(n=Count("id"))
    )
    analysed = dict(
        Assessment.objects.filter(visit__participant__trial=trial, visit__definition__code="m12")
        .values_list("visit__participant__allocation__arm__code")
        .annotate(n=Count("id"))
    )
    a, b = counts.arms
    for arm in (a, b):
        assert arm.allocated == allocated[arm.code]
        assert arm.lost == lost.get(arm.code, 0)
        assert arm.discontinued == withdrawn.get(arm.code, 0)
        assert arm.analysed == analysed[arm.code]
    assert (a.allocated, a.received, a.discontinued, a.analysed) == (6, 1, 1, 6)
    assert a.discontinued_reasons == {"No further data collection": 1}
    assert (b.allocated, b.received, b.lost, b.analysed) == (6, 5, 1, 5)
    assert b.lost_reasons == {"Moved away from the trial's area": 1}


def test_the_effect_report_carries_the_diagram(rworld: ReportWorld, tmp_path: Path) -> None:
    history(rworld)
    result = pipeline.build(spec_for(rworld, lock_plan(rworld)), tmp_path)
    flow = next(section for section in result.sections if section.key == "flow")
    (figure,) = flow.figures
    assert "Assessed for eligibility (n\u00a0=\u00a016)" in figure.svg
    assert "Allocated to A: " in figure.svg
    with zipfile.ZipFile(result.zip) as archive:
        table = archive.read("tables/consort_flow.csv").decode()
    assert ",Assessed for eligibility,16" in table
    assert "Sites" not in table  # individually randomised: no cluster boxes
    assert "Assessed for eligibility" in pdf_text(result.pdf)  # drawn as vector text
