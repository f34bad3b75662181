"""The report pipeline: extract → analyse → render → PDF → ZIP, the same for the Celery task
and the ``build_report`` command.

Report kinds are a registry (:data:`KINDS`): a kind says how to turn the extracted data into
:class:`~reports.analysis.results.Section` objects and whether it makes a PDF. The effect report
and a data-only kind are registered here; later kinds (process, pathways, full) register
themselves with :func:`register_kind`.

Reproducibility: a build records the SHA-256 of the extracted data (canonical CSV, sorted), the
software versions, the options and the random seed. The seed is derived from the trial, kind,
cut-off and plan unless the options set one, so ordering the same report on the same data gives
the same numbers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import importlib.metadata
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from instruments import builtin
from instruments.definition import Text
from instruments.models import Instrument
from reports import exports, extract, render, sections
from reports import variables as dictionary
from reports.analysis import consort, results
from reports.analysis.results import EffectData, Section, Table
from reports.analysis.text import number
from reports.models import AnalysisPlan
from trial.models import Participant, Trial

if TYPE_CHECKING:
    from reports.analysis.effect import Names

Progress = Callable[[str, int], None]

# (stage, progress in % when the stage starts)
STAGES = [
    ("extract", 2),
    ("analyse", 15),
    ("render", 60),
    ("pdf", 70),
    ("zip", 90),
]
STAGE_LABELS = {
    "queued": gettext_lazy("Waiting for a worker"),
    "extract": gettext_lazy("Extracting the data"),
    "analyse": gettext_lazy("Running the analyses"),
    "render": gettext_lazy("Writing the report"),
    "pdf": gettext_lazy("Making the PDF"),
    "zip": gettext_lazy("Packing the data sets"),
    "done": gettext_lazy("Finished"),
}
SOFTWARE = [
    "django",
    "pandas",
    "numpy",
    "scipy",
    "statsmodels",
    "weasyprint",
    "matplotlib",
    "worktrials",
]
# Labels of the columns that are not variables of the trial's instruments (those are labelled
# from the data dictionary, see export_columns).
COLUMN_LABELS = {
    "study_id": "Pseudonymous study id",
    "arm": "Randomised arm (code)",
    "arm_label": "Randomised arm (name; the code when blinded)",
    "is_control": "Arm is the control / usual-services arm",
    "site": "Site (NAV office) code",
    "randomised_on": "Date of randomisation",
    "stratum": "Randomisation stratum",
    "withdrawn": "Withdrawn by the data cut-off",
    "withdrawn_on": "Date of withdrawal",
    "visit": "Follow-up visit code",
    "offset_months": "Months after randomisation the visit is scheduled",
    "assessed_on": "Date of the assessment (the visit's first, when several instruments)",
    "in_paid_work": "In paid work",
    "hours_per_week": "Hours of paid work per week",
    "monthly_earnings": "Monthly earnings (NOK)",
    "on_benefits": "On benefits",
    "self_rated_health": "Self-rated health (1 poor – 5 excellent)",
    "benefit_type": "Benefit type",
    "occupation_code": "Occupation (STYRK-08)",
    "contamination_reported": "Answered yes to the contamination question",
    "due_on": "Date the visit was due",
    "reason": "Why there is no assessment (missed / withdrawn / lost / not yet due)",
    "exposed": "Received intervention-specific components (contamination)",
    "first_exposed_on": "Date of the first exposure",
    "contacted": "At least one contact logged by the cut-off",
    "months": "Months from randomisation to first paid work, or to the last assessment",
    "event": "First paid work observed (1) or censored (0)",
}


class ReportBuildError(Exception):
    """The report cannot be built as asked (unknown kind, no plan); the message says why."""


@dataclass
class ReportInput:
    """What a kind's section builder gets.

    ``cache`` holds inputs that several sections (or several kinds of the full report) read,
    computed once per build through :meth:`shared`.
    """

    trial: Trial
    data: EffectData
    plan: results.AnalysisPlan | None
    seed: int
    blinded: bool
    cut_off: dt.date
    cache: dict[str, Any] = field(default_factory=dict)

    def shared(self, key: str, load: Callable[[], Any]) -> Any:
        """``load()`` the first time ``key`` is asked for in this build, then the same value."""
        if key not in self.cache:
            self.cache[key] = load()
        return self.cache[key]

    def consort_frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The screening and flow frames of the CONSORT diagram (as of the cut-off)."""
        time_point = self.plan.time_point if self.plan else None
        frames: tuple[pd.DataFrame, pd.DataFrame] = self.shared(
            "consort_frames",
            lambda: extract.consort_frames(self.trial, self.cut_off, self.data, time_point),
        )
        return frames


@dataclass(frozen=True)
class ReportKind:
    key: str
    label: Any
    sections: Callable[[ReportInput], list[Section]]
    pdf: bool = True
    needs_plan: bool = False
    description: Any = ""


KINDS: dict[str, ReportKind] = {}


def register_kind(kind: ReportKind) -> ReportKind:
    KINDS[kind.key] = kind
    return kind


def get_kind(key: str) -> ReportKind:
    try:
        return KINDS[key]
    except KeyError:
        raise ReportBuildError(
            _("There is no report of kind “%(kind)s”.") % {"kind": key}
        ) from None


@dataclass
class BuildSpec:
    """Everything a build depends on; the task fills it from a ``ReportRequest``."""

    trial: Trial
    kind: str
    cut_off: dt.date
    seed: int
    blinded: bool
    plan: AnalysisPlan | None
    options: dict[str, Any] = field(default_factory=dict)
    ordered_by: str = ""
    request_id: int | None = None
    export_salt: str = ""
    """Names the export for its pseudonyms and date offsets when study ids are hashed for it
    alone (``exports.export_key``): the request and when it was ordered, so a rebuild gives
    the same file. Empty: a fresh random one per build."""


@dataclass
class BuildResult:
    pdf: Path | None
    zip: Path
    snapshot_hash: str
    versions: dict[str, str]
    timings: dict[str, float]
    sections: list[Section]
    tables: list[Table]


# --- provenance ----------------------------------------------------------------------------


def software_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in SOFTWARE:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def canonical_csv(frame: pd.DataFrame) -> bytes:
    """The frame as CSV with columns and rows in a fixed order, all values as text."""
    text = frame.reindex(sorted(frame.columns), axis=1).astype(str)
    if len(text.columns):
        text = text.sort_values(list(text.columns), kind="mergesort")
    return text.to_csv(index=False, lineterminator="\n").encode()


def snapshot_hash(frames: dict[str, pd.DataFrame]) -> str:
    """SHA-256 over the canonical CSV bytes of the data frames, in name order."""
    digest = hashlib.sha256()
    for name in sorted(frames):
        digest.update(f"== {name}\n".encode())
        digest.update(canonical_csv(frames[name]))
    return digest.hexdigest()


def effect_data_hash(data: EffectData) -> str:
    """The snapshot hash of the data a report analyses (recorded with every report)."""
    return snapshot_hash(
        {
            "participants": data.participants,
            "outcomes": data.outcomes,
            "missed_visits": data.missed,
            "exposure": data.exposure,
            "time_to_work": data.time_to_work,
        }
    )


def data_snapshot(trial: Trial, cut_off: dt.date) -> str:
    """The snapshot hash of the trial's data at ``cut_off``, as a report would record it."""
    return effect_data_hash(extract.effect_data(trial, cut_off))


def add_register_endpoints(
    data: EffectData, trial: Trial, cut_off: dt.date, plan: AnalysisPlan
) -> None:
    """Put the register endpoints the plan names (primary and secondary) into ``data``, with
    their kinds and labels (see :mod:`reports.registers`)."""
    from reports import registers

    names = [plan.primary_outcome, *plan.secondary_outcomes]
    found = registers.endpoint_data(trial, cut_off, names)
    if found is None:
        return
    randomised = set(data.participants["study_id"]) if not data.participants.empty else set()
    data.registers = found.values.loc[found.values["study_id"].isin(randomised)].reset_index(
        drop=True
    )
    data.register_times = {
        name: times.loc[times["study_id"].isin(randomised)].reset_index(drop=True)
        for name, times in found.times.items()
    }
    data.labels.update(found.labels)
    for name in names:
        endpoint = registers.parse(name)
        if endpoint is not None:
            data.kinds[name] = endpoint.kind


def default_seed(trial: Trial, kind: str, cut_off: dt.date, plan: AnalysisPlan | None) -> int:
    """A seed that depends only on what the report is about, so a repeat gives the same."""
    plan_part = "no-plan" if plan is None else (plan.content_hash or f"draft-{plan.version}")
    text = f"{trial.code}|{kind}|{cut_off.isoformat()}|{plan_part}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") >> 1


def plan_spec(plan: AnalysisPlan) -> results.AnalysisPlan:
    return results.AnalysisPlan(
        primary_outcome=plan.primary_outcome,
        time_point=plan.time_point,
        secondary_outcomes=list(plan.secondary_outcomes),
        covariates=list(plan.covariates),
        missing=plan.missing,
        subgroups=list(plan.subgroups),
        version=plan.version,
    )


def plan_in_force(trial: Trial) -> AnalysisPlan | None:
    """The locked plan if there is one, else the draft (reports then say it is a draft)."""
    plans = {p.status: p for p in trial.analysis_plans.exclude(status="superseded")}
    return plans.get(AnalysisPlan.Status.LOCKED) or plans.get(AnalysisPlan.Status.DRAFT)


# --- the pipeline's own sections -----------------------------------------------------------


def arm_names(data: EffectData, blinded: bool) -> dict[str, str]:
    people = data.participants
    if people.empty:
        return {}
    pairs = people[["arm", "arm_label"]].drop_duplicates().sort_values("arm")
    return {
        code: code if blinded else f"{code}: {label}"
        for code, label in zip(pairs["arm"], pairs["arm_label"], strict=True)
    }


def flow_section(inp: ReportInput, arms: list[tuple[str, str]]) -> Section:
    """A CONSORT-like flow of participants by arm: randomised, withdrawn, assessed at the
    plan's time point and why the others were not."""
    data = inp.data
    people, outcomes, missed = data.participants, data.outcomes, data.missed
    time_point = inp.plan.time_point if inp.plan else None
    by_arm = people.set_index("study_id")["arm"] if not people.empty else pd.Series(dtype=str)
    rows: list[dict[str, Any]] = []
    shown: list[str] = []  # the row labels with the visit's label (the CSV keeps its code)
    visit = inp.shared("names", lambda: report_names(inp.trial)).visit(time_point or "")

    def count(study_ids: pd.Series) -> dict[str, int]:
        arms_of = study_ids.map(by_arm)
        return {code: int((arms_of == code).sum()) for code, _label in arms}

    def add(label: str, counts: dict[str, int], label_shown: str | None = None) -> None:
        shown.append(label if label_shown is None else label_shown)
        row: dict[str, Any] = {"": label}
        for code, name in arms:
            row[name] = counts.get(code, 0)
        row[_("Total")] = sum(counts.values())
        rows.append(row)

    add(_("Randomised"), count(people["study_id"]) if not people.empty else {})
    withdrawn = people[people["withdrawn"]]["study_id"] if not people.empty else pd.Series()
    add(_("Withdrawn by the cut-off"), count(withdrawn))
    add(_("With at least one assessment"), count(pd.Series(outcomes["study_id"].unique())))
    if time_point:
        at = outcomes[outcomes["visit"] == time_point]["study_id"]
        assessed = _("Assessed at %(visit)s")
        add(assessed % {"visit": time_point}, count(at), assessed % {"visit": visit})
        gone = missed[missed["visit"] == time_point] if not missed.empty else missed
        for reason, label in (
            ("missed", _("Not assessed at %(visit)s: missed")),
            ("withdrawn", _("Not assessed at %(visit)s: withdrawn")),
            ("lost", _("Not assessed at %(visit)s: lost to follow-up")),
            ("not yet due", _("Not assessed at %(visit)s: not yet due")),
        ):
            ids = gone[gone["reason"] == reason]["study_id"] if not gone.empty else pd.Series()
            add(label % {"visit": time_point}, count(ids), label % {"visit": visit})
    frame = pd.DataFrame(rows)
    problems = []
    empty = [name for code, name in arms if not (people["arm"] == code).any()]
    if people.empty:
        problems.append(_("No participant had been randomised by the data cut-off."))
    for name in empty:
        problems.append(_("Arm %(arm)s has no randomised participants.") % {"arm": name})
    diagram = consort_diagram(inp, arms)
    return Section(
        key="flow",
        title=_("Participant flow"),
        figures=[diagram],
        text=[
            _(
                "Numbers of participants by randomised arm as recorded on the data cut-off date "
                "(CONSORT flow)."
            )
        ],
        tables=[
            Table(key="flow", title=_("Participant flow by arm"), frame=frame, shown={"": shown})
        ],
        problems=problems,
    )


def consort_diagram(inp: ReportInput, arms: list[tuple[str, str]]) -> results.Figure:
    """The CONSORT flow diagram (SVG) and its numbers, with arms shown as in the report."""
    screening, flow = inp.consort_frames()
    flow = flow.copy()
    flow["arm_label"] = flow["arm"].map(dict(arms)).fillna(flow["arm"])
    return consort.consort_figure(screening, flow, design=inp.data.design, translate=_)


def report_arms(trial: Trial, data: EffectData, blinded: bool) -> list[tuple[str, str]]:
    """Every arm of the trial as (code, label shown): the code alone when blinded."""
    names = arm_names(data, blinded)
    return [
        (code, names.get(code, code if blinded else f"{code}: {name}"))
        for code, name in trial.arms.order_by("code").values_list("code", "name")
    ]


def current_consort(trial: Trial, *, cut_off: dt.date, blinded: bool) -> results.Figure:
    """The trial's CONSORT diagram as things stand on ``cut_off``, for a direct download: the
    same extraction and counts as a report's participant flow (arms as codes when blinded)."""
    data = extract.effect_data(trial, cut_off)
    if blinded and not data.participants.empty:
        data.participants["arm_label"] = data.participants["arm"]
    plan = plan_in_force(trial)
    inp = ReportInput(
        trial=trial,
        data=data,
        plan=plan_spec(plan) if plan else None,
        seed=0,
        blinded=blinded,
        cut_off=cut_off,
    )
    return consort_diagram(inp, report_arms(trial, data, blinded))


def randomisation_section(trial: Trial) -> Section | None:
    from randomisation.models import Scheme
    from randomisation.schemes import consort

    scheme = Scheme.objects.locked_for(trial)
    if scheme is None:
        return None
    return Section(
        key="randomisation",
        title=_("Randomisation"),
        text=list(consort.randomisation_text(scheme)),
    )


def report_names(trial: Trial, found: list[dictionary.Variable] | None = None) -> Names:
    """The labels the PDF shows for the trial's covariates (with site and stratum), their
    choices, its sites (the levels of ``site``, by name) and its visits, in place of the keys
    the data sets use.

    Stratum needs no levels: it is not offered as a subgroup, so its values are never shown.
    """
    from reports.analysis.effect import Names
    from reports.services import covariate_choices, time_point_choices

    levels = {
        c.key: {str(value): str(label) for value, label in c.choices}
        for c in trial.covariates.all()
        if c.choices
    }
    levels["site"] = {site.code: site.name for site in trial.sites.all()}
    found = dictionary.variables(trial) if found is None else found
    for variable in found:
        if dictionary.kind_of(variable) == dictionary.BINARY:
            continue  # subgroups of yes/no are "yes" and "no", translated by Names.level
        shown = {code: str(text) for code, text in variable.value_labels.items()}
        # An integer code reads "3.0" where the column also has blanks (floats).
        shown |= {f"{float(c)}": t for c, t in shown.items() if c.lstrip("-").isdigit()}
        if shown:
            levels[dictionary.baseline_key(variable.name)] = shown
    return Names(
        covariates={
            key: str(label)
            for key, label in covariate_choices(trial, found)
            if dictionary.baseline_name(key) is None
        },
        levels=levels,
        visits={code: str(label) for code, label in time_point_choices(trial)},
        outcomes={v.name: dictionary.label_of(v) for v in found},
    )


def effect_kind_sections(inp: ReportInput) -> list[Section]:
    from reports.analysis.effect import effect_sections

    assert inp.plan is not None  # noqa: S101 - needs_plan guarantees it
    names = inp.shared("names", lambda: report_names(inp.trial))
    return effect_sections(inp.data, inp.plan, inp.seed, inp.blinded, names)


register_kind(
    ReportKind(
        key="effect",
        label=gettext_lazy("Effect evaluation"),
        sections=effect_kind_sections,
        needs_plan=True,
        description=gettext_lazy(
            "Intention-to-treat effect on the plan's outcomes, contamination-adjusted "
            "estimates, time to first paid work, missing data and subgroups (PDF and data sets)."
        ),
    )
)
# State codes of the standard alphabet that the revolving-door count treats as work and as
# benefits (pathways.services.STANDARD_ALPHABET); a trial's own codes outside these count as
# neither.
WORK_CODES = frozenset({"work"})
BENEFIT_CODES = frozenset({"aap", "disability", "social_assistance", "unemployment"})


def pathways_kind_sections(inp: ReportInput) -> list[Section]:
    """Sequence analysis of the monthly register states by randomised arm, and the job strain
    of the jobs reached."""
    names = arm_names(inp.data, inp.blinded)
    return [*sequence_kind_sections(inp), sections.job_strain_section(inp, names)]


def sequence_kind_sections(inp: ReportInput) -> list[Section]:
    """Sequence analysis of the monthly register states, by randomised arm."""
    from pathways import services as pathway_services
    from pathways.models import Spell
    from pathways.services import GAP_COLOUR
    from reports.analysis.sequences_report import sequence_sections

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


def _plain(frame: pd.DataFrame, names: dict[str, str], *, index: str) -> pd.DataFrame:
    """A summary frame with its index as the first column and arm codes shown as in the report."""
    out = frame.reset_index().rename(columns={frame.index.name or "index": index})
    if "arm" in out.columns:
        out["arm"] = out["arm"].map(lambda code: names.get(code, code))
    if index == "arm":
        out[index] = out[index].map(lambda code: names.get(code, code))
    return out.drop(columns=[c for c in ("name", "is_control") if c in out.columns])


def process_kind_sections(inp: ReportInput) -> list[Section]:
    """Implementation: recruitment and retention, dose and reach by arm and site,
    contamination, site fidelity reviews and their relation to site outcomes, adaptations."""
    from fidelity.dashboards import contamination as contamination_figures
    from fidelity.dashboards import dose as dose_figures

    trial, end = inp.trial, inp.cut_off
    names = arm_names(inp.data, inp.blinded)
    frame = dose_figures.dose_by_participant(trial, end=end)
    dose = Section(
        key="dose",
        title=_("Dose and reach"),
        text=[
            _(
                "Contacts and minutes per participant-month of follow-up from randomisation to "
                "the cut-off (or withdrawal); reach is the share of randomised participants with "
                "at least one logged contact. Employer contacts about no single participant count "
                "for their site only."
            )
        ],
        tables=[
            Table(
                "dose_by_arm",
                _("Dose by arm"),
                _plain(dose_figures.dose_by_arm(trial, end=end, frame=frame), names, index="arm"),
            ),
            Table(
                "reach_by_arm",
                _("Reach by arm"),
                _plain(dose_figures.reach(trial, end=end, frame=frame), names, index="arm"),
            ),
            Table(
                "first_contact_by_arm",
                _("Days from randomisation to the first contact"),
                _plain(
                    dose_figures.time_to_first_contact(trial, end=end, frame=frame),
                    names,
                    index="arm",
                ),
            ),
            Table(
                "dose_by_site",
                _("Dose by site"),
                _plain(dose_figures.dose_by_site(trial, end=end, frame=frame), names, index="site"),
            ),
        ],
    )
    contamination = Section(key="contamination", title=_("Contamination"))
    if inp.blinded:
        contamination.problems.append(
            _(
                "Contamination is reported for the control arm only, which would reveal the "
                "allocation, so it is left out of reports for blinded readers."
            )
        )
    else:
        data = contamination_figures.exposure_data(trial, end=end)
        overall = contamination_figures.contamination_overall(trial, end=end, data=data)
        contamination.text.append(
            _(
                "%(exposed)s of %(controls)s control participants received intervention-specific "
                "components by the cut-off (from logged contacts and follow-up answers)."
            )
            % {"exposed": number(overall["exposed"]), "controls": number(overall["controls"])}
        )
        contamination.tables = [
            Table(
                "contamination_by_month",
                _("Contamination by month"),
                _plain(
                    contamination_figures.contamination_by_month(trial, end=end, data=data),
                    names,
                    index="month",
                ),
            ),
            Table(
                "contamination_by_site",
                _("Contamination by site"),
                _plain(
                    contamination_figures.contamination_by_site(trial, end=end, data=data),
                    names,
                    index="site",
                ),
            ),
            Table(
                "contamination_by_source",
                _("Contamination by source"),
                _plain(
                    contamination_figures.contamination_by_source(trial, end=end, data=data),
                    names,
                    index="source",
                ),
                labels={"source": _("Code"), "label": _("Source")},
            ),
        ]
    reviews = sections.fidelity_rows(trial, inp)
    scales_used = sorted(set(reviews["scale"]))
    reviews_table = Table("fidelity_reviews", _("Fidelity reviews by site"), reviews)
    if len(scales_used) == 1:  # the same long name on every row: say it once
        reviews_table.hidden = ("scale",)
        reviews_table.notes.append(_("Scale: %(scale)s.") % {"scale": scales_used[0]})
    fidelity = Section(
        key="fidelity",
        title=_("Fidelity"),
        text=[
            _(
                "Consensus totals of the fidelity reviews of each site over time; totals and "
                "bands are computed from the item scores of the scale version each review used."
            )
        ],
        tables=[reviews_table],
    )
    if reviews.empty:
        fidelity.problems.append(
            _("No site had a fidelity review with a consensus by the cut-off.")
        )
    return [
        sections.recruitment_section(inp, names),
        dose,
        contamination,
        fidelity,
        sections.site_fidelity_section(inp),
        sections.adaptations_section(inp),
    ]


register_kind(
    ReportKind(
        key="process",
        label=gettext_lazy("Process evaluation"),
        sections=process_kind_sections,
        description=gettext_lazy(
            "Implementation: recruitment and retention, dose and reach by arm and site, "
            "contamination by month, site and source, the sites' fidelity reviews over time "
            "beside their outcomes, and adaptations."
        ),
    )
)
register_kind(
    ReportKind(
        key="pathways",
        label=gettext_lazy("Pathways (sequence analysis)"),
        sections=pathways_kind_sections,
        description=gettext_lazy(
            "Monthly register states by arm: state distributions, index plots, time in each "
            "state, transition rates, revolving doors, entropy and turbulence, a typology "
            "of pathways by optimal matching, and the job strain of the jobs reached."
        ),
    )
)


def economic_kind_sections(inp: ReportInput) -> list[Section]:
    from reports.economics_section import economic_sections

    return economic_sections(inp, arm_names(inp.data, inp.blinded))


register_kind(
    ReportKind(
        key="economic",
        label=gettext_lazy("Economic evaluation"),
        sections=economic_kind_sections,
        description=gettext_lazy(
            "Costs per participant from the contact log and the register months, incremental "
            "cost and months in work, net monetary benefit, the cost-effectiveness plane and "
            "acceptability curve, and one-way sensitivity analyses."
        ),
    )
)


def full_kind_sections(inp: ReportInput) -> list[Section]:
    """The effect, process and pathways reports in one, each a part of its own; the shared
    inputs (extracted data, CONSORT frames, fidelity reviews) are computed once."""
    parts = [
        (_("Effect evaluation"), effect_kind_sections),
        (_("Process evaluation"), process_kind_sections),
        (_("Pathways"), pathways_kind_sections),
        (_("Economic evaluation"), economic_kind_sections),
    ]
    out = []
    for title, build_part in parts:
        for section in build_part(inp):
            section.part = title
            out.append(section)
    return out


register_kind(
    ReportKind(
        key="full",
        label=gettext_lazy("Full evaluation report"),
        sections=full_kind_sections,
        needs_plan=True,
        description=gettext_lazy(
            "Effect, process evaluation, pathways and the CONSORT flow in one PDF with a "
            "table of contents, for funders and steering groups."
        ),
    )
)
register_kind(
    ReportKind(
        key="data",
        label=gettext_lazy("Analysis data sets only"),
        sections=lambda inp: [],
        pdf=False,
        description=gettext_lazy(
            "The pseudonymised data sets with a data dictionary, as CSV and Stata files or in "
            "the formats you choose (SPSS, R, Parquet); no PDF."
        ),
    )
)


# --- the build -----------------------------------------------------------------------------


def unique_tables(sections: list[Section]) -> list[Table]:
    """Every table of the sections and behind their figures, once per key: a figure's table
    that repeats a section table is left out; a different one under a used key is renamed."""
    seen: dict[str, Table] = {}
    for table in [t for s in sections for t in s.tables] + [
        f.table for s in sections for f in s.figures
    ]:
        if table.key not in seen:
            seen[table.key] = table
        elif not seen[table.key].frame.equals(table.frame):
            key, n = f"{table.key}_figure", 2
            while key in seen:
                key, n = f"{table.key}_figure{n}", n + 1
            seen[key] = dataclasses.replace(table, key=key)
    return list(seen.values())


def output_paths(folder: Path, spec: BuildSpec) -> tuple[Path, Path]:
    stem = f"{spec.trial.code}-{spec.kind}-{spec.cut_off.isoformat()}"
    if spec.request_id is not None:
        stem = f"{stem}-{spec.request_id}"
    return folder / f"{stem}.pdf", folder / f"{stem}.zip"


def export_frames(data: EffectData, blinded: bool) -> dict[str, pd.DataFrame]:
    """The data sets for the ZIP. Blinded: no arm names, no control flag and no exposure set
    (only control participants can be exposed, so it would reveal the control arm)."""
    participants = data.participants.copy()
    if blinded:
        participants = participants.drop(columns=["arm_label", "is_control"], errors="ignore")
    frames = {
        "participants": participants,
        "outcomes": data.outcomes,
        "missed_visits": data.missed,
        "time_to_work": data.time_to_work,
    }
    if not blinded:
        frames["exposure"] = data.exposure
    if data.registers is not None and len(data.registers.columns) > 1:
        frames["register_endpoints"] = data.registers
    for name, times in data.register_times.items():
        frames[name] = times
    return frames


def _english(text: Text) -> str:
    return text.en or text.nb


def _yes_no(variable: dictionary.Variable | None = None) -> dict[str, str]:
    """Value labels of a yes/no column as the CSV writes it (True/False)."""
    labels = {"True": "Yes", "False": "No"}
    for code, text in (variable.value_labels if variable else {}).items():
        key = {"1": "True", "true": "True", "yes": "True", "0": "False", "false": "False"}
        if str(code).lower() in key:
            labels[key[str(code).lower()]] = _english(text)
    return labels


def _pairs(labels: dict[str, Text]) -> str:
    return "; ".join(f"{code} = {_english(text)}" for code, text in labels.items())


def export_columns(
    trial: Trial, found: list[dictionary.Variable], data_sets: dict[str, pd.DataFrame]
) -> dict[str, dict[str, render.ColumnInfo]]:
    """What the data dictionary and the Stata files say about each column of the data sets:
    every instrument variable labelled from the trial's data dictionary (English and bokmål),
    with its value labels (yes/no and choices), instrument, versions, kind, unit and
    missing-data codes; its ``<name>_missing`` column with the codes' labels; each
    ``<instrument>_version`` column; the baseline covariates with their labels and choices;
    the other columns from :data:`COLUMN_LABELS`."""
    names = dict(Instrument.objects.filter(trial=trial).values_list("code", "name_en"))
    names.setdefault(builtin.EMPLOYMENT, str(builtin.BUILTIN[builtin.EMPLOYMENT]["name_en"]))
    by_name = {v.name: v for v in found}
    covariates = {c.key: c for c in trial.covariates.all()}
    out: dict[str, dict[str, render.ColumnInfo]] = {}
    for data_set, frame in data_sets.items():
        info: dict[str, render.ColumnInfo] = {}
        answers = data_set == "outcomes"  # the data set of the instruments' answers
        for column in map(str, frame.columns):
            variable = by_name.get(column) if answers else None
            base = column.removesuffix("_missing")
            if variable is not None:
                kind = dictionary.kind_of(variable)
                instrument = variable.instrument_code
                info[column] = render.ColumnInfo(
                    label=_english(variable.label) or column,
                    label_nb=variable.label.nb,
                    values=_yes_no(variable)
                    if kind == dictionary.BINARY
                    else {str(c): _english(t) for c, t in variable.value_labels.items()},
                    instrument=f"{instrument}: {names.get(instrument, instrument)}",
                    versions=", ".join(str(n) for n in variable.versions),
                    kind=kind,
                    unit=variable.unit,
                    missing_codes=_pairs(dictionary.missing_labels(variable)),
                    missing={
                        code: _english(text)
                        for code, text in dictionary.missing_labels(variable).items()
                    },
                )
            elif answers and base != column and base in by_name:
                variable = by_name[base]
                codes = dictionary.missing_labels(variable)
                info[column] = render.ColumnInfo(
                    label=f"Missing-data code given for {base}",
                    label_nb=f"Kode for manglende svar på {base}",
                    values={code: _english(text) for code, text in codes.items()},
                    instrument=f"{variable.instrument_code}: "
                    f"{names.get(variable.instrument_code, variable.instrument_code)}",
                    kind="missing code",
                )
            elif answers and column.endswith("_version"):
                code = next((c for c in names if extract.version_column(c) == column), column[:-8])
                info[column] = render.ColumnInfo(
                    label=f"Version of the {names.get(code, code)} instrument the row's "
                    "answers were entered under",
                    instrument=f"{code}: {names.get(code, code)}",
                )
            elif column in covariates and data_set == "participants":
                covariate = covariates[column]
                values = (
                    {"True": "Yes", "False": "No"}
                    if covariate.kind == "boolean"
                    else {str(v): str(t) for v, t in covariate.choices}
                )
                info[column] = render.ColumnInfo(
                    label=covariate.label, values=values, kind=f"baseline {covariate.kind}"
                )
            elif column == "contamination_reported":
                info[column] = render.ColumnInfo(
                    label=COLUMN_LABELS[column], values={"True": "Yes", "False": "No"}
                )
            elif column in COLUMN_LABELS:
                info[column] = render.ColumnInfo(label=COLUMN_LABELS[column])
        out[data_set] = info
    return out


def numbered_views(sections: list[Section]) -> tuple[list[dict[str, Any]], int]:
    """The sections for the template, numbered 1, 2, … or, when they belong to parts (the full
    report), 1.1, 1.2, 2.1, …; and the last top-level number used."""
    views: list[dict[str, Any]] = []
    part_number, in_part, current = 0, 0, None
    for index, section in enumerate(sections, 1):
        if not section.part:
            views.append(render.section_view(section, index))
            part_number = index
            continue
        first = section.part != current
        if first:
            part_number, in_part, current = part_number + 1, 0, section.part
        in_part += 1
        view = render.section_view(section, f"{part_number}.{in_part}")
        view.update(part_number=part_number, first_in_part=first)
        views.append(view)
    return views, part_number


def zip_files(sections: list[Section]) -> dict[str, bytes]:
    """Files beside the data sets in the ZIP: the CONSORT diagram as ``consort.svg``."""
    for section in sections:
        for figure in section.figures:
            if figure.key == "consort_flow":
                return {"consort.svg": figure.svg.encode()}
    return {}


def build(spec: BuildSpec, folder: Path, progress: Progress | None = None) -> BuildResult:
    """Run the whole pipeline and write the PDF (if the kind makes one) and the ZIP into
    ``folder``, each atomically. Raises ReportBuildError for a request that cannot be met;
    any other exception is a failure of the build. Safe to repeat: files are replaced whole.
    """
    kind = get_kind(spec.kind)
    if kind.needs_plan and spec.plan is None:
        raise ReportBuildError(
            _("This report follows the statistical analysis plan: write the plan first.")
        )
    timings: dict[str, float] = {}
    started = time.perf_counter()
    current: list[Any] = [None, started]  # the stage running and when it started

    def stage(name: str) -> None:
        now = time.perf_counter()
        if current[0] is not None:
            timings[current[0]] = round(now - current[1], 3)
        current[:] = [name, now]
        if progress is not None and name in dict(STAGES):
            progress(name, dict(STAGES)[name])

    stage("extract")
    data = extract.effect_data(spec.trial, spec.cut_off)
    hashed = effect_data_hash(data)
    if spec.plan is not None:
        add_register_endpoints(data, spec.trial, spec.cut_off, spec.plan)
    if spec.blinded and not data.participants.empty:
        data.participants["arm_label"] = data.participants["arm"]
    versions = software_versions()

    stage("analyse")
    plan = plan_spec(spec.plan) if spec.plan else None
    inp = ReportInput(
        trial=spec.trial,
        data=data,
        plan=plan,
        seed=spec.seed,
        blinded=spec.blinded,
        cut_off=spec.cut_off,
    )
    arms = report_arms(spec.trial, data, spec.blinded)
    built = [flow_section(inp, arms)]
    randomisation = randomisation_section(spec.trial)
    if randomisation is not None:
        built.append(randomisation)
    own = kind.sections(inp)
    if any(section.part for section in own):
        for section in built:
            section.part = _("Participants and randomisation")
    built.extend(own)
    tables = unique_tables(built)
    language = translation.get_language() or str(settings.LANGUAGE_CODE)
    meta = {
        "trial": spec.trial.code,
        "trial_title": spec.trial.title,
        "registry_id": spec.trial.registry_id,
        "kind": spec.kind,
        "request": spec.request_id,
        "ordered_by": spec.ordered_by,
        "cut_off": spec.cut_off.isoformat(),
        "blinded": spec.blinded,
        "plan": None
        if spec.plan is None
        else {
            "version": spec.plan.version,
            "status": spec.plan.status,
            "locked_at": spec.plan.locked_at.isoformat() if spec.plan.locked_at else None,
            "content_hash": spec.plan.content_hash or None,
            "content": spec.plan.content(),
        },
        "seed": spec.seed,
        "options": spec.options,
        # The language of the tables, text and figures (the data sets' names are English).
        "language": language,
        "snapshot_hash": hashed,
        "software": versions,
        "generated_at": timezone.localtime().isoformat(timespec="seconds"),
        "tables": [t.key for t in tables],
    }

    pdf_path, zip_path = output_paths(folder, spec)
    if kind.pdf:
        stage("render")
        views, last = numbered_views(built)
        html = render.report_html(
            {
                "meta": meta,
                "trial": spec.trial,
                "kind": kind,
                "plan": spec.plan,
                "arms": arms,
                "sections": views,
                "reproducibility_number": last + 1,
                "has_parts": any(view.get("first_in_part") for view in views),
                "software": sorted(versions.items()),
                "options_json": json.dumps(spec.options, sort_keys=True) if spec.options else "",
                "language_name": translation.get_language_info(language)["name_translated"],
            }
        )
        stage("pdf")
        render.write_pdf(html, pdf_path)
    stage("zip")
    exported = export_frames(data, spec.blinded)
    columns = export_columns(spec.trial, dictionary.variables(spec.trial), exported)
    export = exports.ExportOptions.from_options(spec.options)
    if export.deidentified:
        key = exports.export_key(spec.trial.pk, export, spec.export_salt)
        exported, columns = exports.deidentify(exported, columns, export, key)
    render.write_zip(
        zip_path,
        data_sets=exported,
        labels=COLUMN_LABELS,
        columns=columns,
        tables=tables,
        meta=meta,
        readme=_readme(meta, export),
        files=zip_files(built) | inp.cache.get("zip_files", {}),
        formats=export.formats,
    )
    stage("done")
    timings["total"] = round(time.perf_counter() - started, 3)
    return BuildResult(
        pdf=pdf_path if kind.pdf else None,
        zip=zip_path,
        snapshot_hash=hashed,
        versions=versions,
        timings=timings,
        sections=built,
        tables=tables,
    )


def _readme(meta: dict[str, Any], export: exports.ExportOptions | None = None) -> str:
    lines = [
        f"{meta['trial_title']} ({meta['trial']}) - {meta['kind']} report",
        f"Data cut-off: {meta['cut_off']}",
        f"Blinded: {'yes (arms as codes)' if meta['blinded'] else 'no'}",
        f"Data snapshot SHA-256: {meta['snapshot_hash']}",
        f"Random seed: {meta['seed']}",
        f"Language of the PDF and the results tables: {meta['language']} "
        "(the data sets' column names are English in every language)",
        "",
        "Pseudonymised: participants appear by study id only.",
        *(export or exports.ExportOptions()).readme_lines(),
        "tables/ holds every results table;",
        "report.json records the plan, options, seed and software versions.",
    ]
    return "\n".join(lines) + "\n"
