"""The pathways report: sequence analysis of the monthly register states by arm, and the job
strain of the jobs reached."""

from __future__ import annotations

import pandas as pd
from django.utils.translation import gettext as _

from pathways import services as pathway_services
from pathways.models import Spell
from pathways.services import GAP_COLOUR
from reports.analysis.results import Section
from reports.analysis.sequences_report import sequence_sections
from reports.sections.base import ReportInput, arm_names
from reports.sections.job_strain import job_strain_section
from trial.models import Participant

# State codes of the standard alphabet that the revolving-door count treats as work and as
# benefits (pathways.services.STANDARD_ALPHABET); a trial's own codes outside these count as
# neither.
WORK_CODES = frozenset({"work"})
BENEFIT_CODES = frozenset({"aap", "disability", "social_assistance", "unemployment"})


def pathways_kind_sections(inp: ReportInput) -> list[Section]:
    """Sequence analysis of the monthly register states by randomised arm, and the job strain
    of the jobs reached."""
    names = arm_names(inp.data, inp.blinded)
    return [*sequence_kind_sections(inp), job_strain_section(inp, names)]


def sequence_kind_sections(inp: ReportInput) -> list[Section]:
    """Sequence analysis of the monthly register states, by randomised arm."""
    table = pathway_services.sequence_table(inp.trial, today=inp.cut_off)
    study_ids = dict(
        Participant.objects.filter(pk__in=table.participant_ids.tolist()).values_list(
            "pk", "study_id"
        )
    )
    people = inp.data.participants
    names = arm_names(inp.data, inp.blinded)
    arm_of = people.set_index("study_id")["arm"].map(names) if not people.empty else {}
    groups = pd.Series([study_ids.get(int(pk)) for pk in table.participant_ids]).map(arm_of)
    keep = groups.notna().to_numpy() & (table.values >= 0).any(axis=1)
    if not table.codes or not keep.any() or not Spell.objects.filter(trial=inp.trial).exists():
        return [
            Section(
                key="pathways",
                title=_("Pathways"),
                problems=[
                    _(
                        "No monthly register states could be built: the trial has no state "
                        "alphabet, no register spells, or no randomised participant with a "
                        "month observed by the cut-off."
                    )
                ],
            )
        ]
    defined = pathway_services.alphabet(inp.trial)
    states = {state.code: state.label for state in defined}
    alphabet = [*table.codes, "none"]
    labels = {**states, "none": _("No registered state")}
    # The colours the pathway pages give the states (one palette for pages and PDFs).
    colours = {state.code: state.colour for state in defined} | {"none": GAP_COLOUR}
    clusters = None
    if inp.data.design != "individual" and not people.empty:
        site_of = people.set_index("study_id")["site"]
        sites = pd.Series([study_ids.get(int(pk)) for pk in table.participant_ids]).map(site_of)
        clusters = sites[keep].reset_index(drop=True)
    return sequence_sections(
        table.values[keep].astype("int32"),
        alphabet,
        labels,
        groups[keep].reset_index(drop=True),
        None,
        inp.seed,
        work_states=frozenset(i for i, code in enumerate(table.codes) if code in WORK_CODES),
        benefit_states=frozenset(i for i, code in enumerate(table.codes) if code in BENEFIT_CODES),
        colours=colours,
        clusters=clusters,
    )
