"""The build: extract → analyse → render → PDF → ZIP, the same for the Celery task and the
``build_report`` command. The kinds and their sections come from :mod:`reports.sections.registry`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from reports import exports, extract, render
from reports import variables as dictionary
from reports.analysis.results import EffectData, Section, Table
from reports.models import AnalysisPlan
from reports.pipeline.datasets import (
    COLUMN_LABELS,
    add_register_endpoints,
    export_columns,
    export_frames,
)
from reports.pipeline.provenance import effect_data_hash, software_versions
from reports.sections.base import ReportBuildError, ReportInput, plan_spec, report_arms
from reports.sections.flow import flow_section, randomisation_section
from reports.sections.registry import ReportKind, get_kind
from trial.models import Trial

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


class _Clock:
    """Times the stages of a build and reports each stage's start to ``progress``."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.timings: dict[str, float] = {}
        self.started = time.perf_counter()
        self.current: str | None = None
        self.since = self.started

    def stage(self, name: str) -> None:
        now = time.perf_counter()
        if self.current is not None:
            self.timings[self.current] = round(now - self.since, 3)
        self.current, self.since = name, now
        if self.progress is not None and name in dict(STAGES):
            self.progress(name, dict(STAGES)[name])

    def total(self) -> dict[str, float]:
        self.timings["total"] = round(time.perf_counter() - self.started, 3)
        return self.timings


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
    clock = _Clock(progress)

    clock.stage("extract")
    data = extract.effect_data(spec.trial, spec.cut_off)
    hashed = effect_data_hash(data, extract.register_spells(spec.trial, spec.cut_off))
    if spec.plan is not None:
        add_register_endpoints(data, spec.trial, spec.cut_off, spec.plan)
    if spec.blinded and not data.participants.empty:
        data.participants["arm_label"] = data.participants["arm"]
    versions = software_versions()

    clock.stage("analyse")
    inp = ReportInput(
        trial=spec.trial,
        data=data,
        plan=plan_spec(spec.plan) if spec.plan else None,
        seed=spec.seed,
        blinded=spec.blinded,
        cut_off=spec.cut_off,
    )
    arms = report_arms(spec.trial, data, spec.blinded)
    built = analyse(kind, inp, arms)
    tables = unique_tables(built)
    meta = build_meta(spec, hashed, versions, tables)

    pdf_path, zip_path = output_paths(folder, spec)
    if kind.pdf:
        clock.stage("render")
        html = report_html(spec, kind, meta, arms, built)
        clock.stage("pdf")
        render.write_pdf(html, pdf_path)
    clock.stage("zip")
    write_data_sets(
        zip_path, spec, data, meta, tables, zip_files(built) | inp.cache.get("zip_files", {})
    )
    clock.stage("done")
    return BuildResult(
        pdf=pdf_path if kind.pdf else None,
        zip=zip_path,
        snapshot_hash=hashed,
        versions=versions,
        timings=clock.total(),
        sections=built,
        tables=tables,
    )


def analyse(kind: ReportKind, inp: ReportInput, arms: list[tuple[str, str]]) -> list[Section]:
    """The participant flow and randomisation sections every report opens with, then the
    kind's own; when those belong to parts (the full report), the opening ones get a part too."""
    built = [flow_section(inp, arms)]
    randomisation = randomisation_section(inp.trial)
    if randomisation is not None:
        built.append(randomisation)
    own = kind.sections(inp)
    if any(section.part for section in own):
        for section in built:
            section.part = _("Participants and randomisation")
    built.extend(own)
    return built


def build_meta(
    spec: BuildSpec, hashed: str, versions: dict[str, str], tables: list[Table]
) -> dict[str, Any]:
    """What ``report.json`` records about the build (and the PDF's reproducibility section)."""
    language = translation.get_language() or str(settings.LANGUAGE_CODE)
    return {
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


def report_html(
    spec: BuildSpec,
    kind: ReportKind,
    meta: dict[str, Any],
    arms: list[tuple[str, str]],
    built: list[Section],
) -> str:
    """The report's HTML, ready for the PDF."""
    language = meta["language"]
    views, last = numbered_views(built)
    return render.report_html(
        {
            "meta": meta,
            "trial": spec.trial,
            "kind": kind,
            "plan": spec.plan,
            "arms": arms,
            "sections": views,
            "reproducibility_number": last + 1,
            "has_parts": any(view.get("first_in_part") for view in views),
            "software": sorted(meta["software"].items()),
            "options_json": json.dumps(spec.options, sort_keys=True) if spec.options else "",
            "language_name": translation.get_language_info(language)["name_translated"],
        }
    )


def write_data_sets(
    path: Path,
    spec: BuildSpec,
    data: EffectData,
    meta: dict[str, Any],
    tables: list[Table],
    files: dict[str, bytes],
) -> None:
    """The ZIP: the data sets (de-identified as the options ask), their dictionary, the
    results tables, ``report.json``, a README and ``files``."""
    exported = export_frames(data, spec.blinded)
    columns = export_columns(spec.trial, dictionary.variables(spec.trial), exported)
    export = exports.ExportOptions.from_options(spec.options)
    if export.deidentified:
        key = exports.export_key(spec.trial.pk, export, spec.export_salt)
        exported, columns = exports.deidentify(exported, columns, export, key)
    render.write_zip(
        path,
        data_sets=exported,
        labels=COLUMN_LABELS,
        columns=columns,
        tables=tables,
        meta=meta,
        readme=_readme(meta, export),
        files=files,
        formats=export.formats,
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
