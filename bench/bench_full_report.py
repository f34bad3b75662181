"""The evaluation reports end to end at scale: effect, process, pathways and full.

A trial of 10,000 participants at 12 sites randomised 1:1 over 18 months from January 2018
(the trial of bench_reports.py: 4 assessments each, about 8 % missed, 10 % of controls
exposed, a locked plan), plus 1,000,000 contacts written with COPY (bench_contacts.py: their
components and the exposures they imply with INSERT ... SELECT), the illustrative job exposure
matrix, three fidelity reviews per site, the demo's adaptations, and 72 months of register
spells per participant written with COPY. The spells follow the demo's monthly model
(pathways/demo.py: AAP, no state, work, education and disability; the intervention arm
reaching work twice as often; a revolving door from work to AAP), so many participants share a
pathway, as in register data. The data cut-off, 2025-12-31, lies after every participant's
72nd month.

Each kind is built with ``reports.pipeline.build`` in a fresh process (as a worker would, with
the numba kernels already compiled and cached on disk, and the sequence cache emptied first).
``BENCH_REUSE_DATA=1`` skips the data load when an earlier run left its data in the database.
Figures per kind: the whole build, each pipeline stage from the progress callback, the time
spent in the pathway typology (``sequences.typology``), and the peak resident memory of the
process (ru_maxrss, which includes Django and the libraries). Issue target: the full report
under 3 minutes on the 2-core machine. The load average at the start of each build is given
in the note, since other work on the machine changes every figure.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO_ROOT, emit, reset_database, setup_django

BENCH = "full_report"
KINDS = ["effect", "process", "pathways", "full"]
START = dt.date(2018, 1, 1)
CUT_OFF = dt.date(2025, 12, 31)
MONTHS = 72
CODE = "bench-reports"  # the trial of bench_reports.build()
SEED = 72
SOURCES = {
    "work": "A-ordningen",
    "education": "NUDB",
    "aap": "FD-Trygd",
    "disability": "FD-Trygd",
}
OCCUPATIONS = ["5223", "9112", "4110", "5120", "7411", "2223", "8332"]


def monthly_states(intervention: Any, rng: Any) -> Any:
    """participants × MONTHS state codes: 0 none, 1 work, 2 education, 3 AAP, 4 disability.

    The monthly model of pathways/demo.py, vectorised over participants.
    """
    import numpy as np

    n = intervention.shape[0]
    out = np.empty((n, MONTHS), np.int8)
    state = np.where(rng.random(n) < 0.3, 3, 0).astype(np.int8)
    to_work = np.where(intervention, 0.075, 0.035)
    for month in range(MONTHS):
        out[:, month] = state
        draw = rng.random(n)
        following = state.copy()
        following[(state == 1) & (draw < 0.07)] = 3
        education = state == 2
        following[education & (draw < 0.08)] = 1
        following[education & (draw < 0.05)] = 0
        waiting = (state == 0) | (state == 3)
        following[waiting & (draw < to_work)] = 1
        following[waiting & (draw >= to_work) & (draw < to_work + 0.015)] = 2
        following[(state == 3) & (draw >= to_work + 0.015) & (draw < to_work + 0.022)] = 4
        following[(state == 0) & (draw > 0.9)] = 3
        state = following
    return out


def copy_spells(trial: Any, user: Any) -> tuple[int, float]:
    """Give every participant 72 months of spells (COPY); return their number and seconds."""
    import numpy as np
    from django.db import connection

    from pathways import services
    from pathways.models import Spell
    from trial.models import Participant

    services.add_standard_alphabet(trial, actor=user)
    services.update_settings(trial, actor=user, follow_up_months=MONTHS)
    state_ids = {s.code: s.pk for s in services.alphabet(trial)}
    codes = ["", "work", "education", "aap", "disability"]
    rows = list(
        Participant.objects.filter(trial=trial)
        .order_by("pk")
        .values_list("pk", "randomised_on", "allocation__arm__is_control")
    )
    ids = np.array([r[0] for r in rows])
    anchor = np.array([r[1] for r in rows], dtype="datetime64[D]")
    rng = np.random.default_rng(SEED)
    states = monthly_states(~np.array([bool(r[2]) for r in rows]), rng)
    started = time.perf_counter()
    cut_off = np.datetime64(CUT_OFF)
    first_month = anchor.astype("datetime64[M]")
    columns = "trial_id, participant_id, state_id, starts_on, ends_on, source, detail"
    count = 0
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {Spell._meta.db_table} ({columns}) FROM STDIN") as copy:
            for i in range(len(ids)):
                row = states[i]
                # Runs of equal months become spells starting and ending inside their months.
                edges = np.flatnonzero(np.diff(row)) + 1
                starts = np.concatenate([[0], edges])
                ends = np.concatenate([edges, [MONTHS]])
                for begin, end in zip(starts, ends, strict=True):
                    code = codes[row[begin]]
                    if not code:
                        continue
                    month = (first_month[i] + begin).astype("datetime64[D]")
                    if begin == 0:  # going on already at randomisation
                        since = anchor[i] - int(rng.integers(30, 400))
                    else:
                        since = month + int(rng.integers(0, 6))
                    until = (first_month[i] + end).astype("datetime64[D]") - int(rng.integers(1, 5))
                    open_ended = end == MONTHS or until >= cut_off
                    copy.write_row(
                        (
                            trial.pk,
                            int(ids[i]),
                            state_ids[code],
                            str(since),
                            None if open_ended else str(until),
                            SOURCES[code],
                            OCCUPATIONS[int(rng.integers(0, len(OCCUPATIONS)))]
                            if code == "work"
                            else "",
                        )
                    )
                    count += 1
        cursor.execute("ANALYZE pathways_spell")
    services.bump_version(trial)
    return count, time.perf_counter() - started


def prepare() -> None:
    """The whole trial, written in bulk; each part's seconds as a figure."""
    import bench_contacts
    import bench_reports
    from django.contrib.auth import get_user_model

    from fidelity.adaptations.demo import seed_adaptations
    from fidelity.models import Component
    from fidelity.reviews.demo import seed_fidelity_reviews
    from occupations.demo import load_illustrative_jem
    from reports import services
    from trial.models import Participant

    reset_database()
    rng = random.Random(SEED)  # noqa: S311 - synthetic data
    started = time.perf_counter()
    trial, user, n_assessments = bench_reports.build(start=START)
    emit(
        BENCH,
        "load participants",
        time.perf_counter() - started,
        "s",
        f"{bench_reports.PARTICIPANTS} participants, {n_assessments} assessments (bulk_create)",
    )
    for order, (code, name, specific) in enumerate(bench_contacts.COMPONENTS):
        Component.objects.create(
            trial=trial, code=code, name=name, intervention_specific=specific, order=order
        )
    people = list(Participant.objects.filter(trial=trial).order_by("pk"))
    seconds = bench_contacts.copy_contacts(trial, people, rng, CUT_OFF, user)
    emit(BENCH, "load contacts", seconds, "s", f"{bench_contacts.SCALE_CONTACTS} contacts (COPY)")
    count, seconds = copy_spells(trial, user)
    emit(BENCH, "load spells", seconds, "s", f"{count} spells over {MONTHS} months (COPY)")
    get_user_model().objects.create_user("bench-reviewer")
    load_illustrative_jem(trial, user)
    seed_fidelity_reviews(
        trial, actor=user, as_of=CUT_OFF, reviewers=("bench-reviewer", user.username)
    )
    seed_adaptations(trial, actor=user, as_of=CUT_OFF)
    plan = services.save_plan_draft(
        trial,
        values={
            "primary_outcome": "in_paid_work",
            "time_point": "m12",
            # Register endpoints beside the assessments (issue 20): months in work in the
            # first two years and time to first work from the spells; the repeated-measures
            # model takes the primary outcome over the four visits.
            "secondary_outcomes": [
                "self_rated_health",
                "monthly_earnings",
                "months_in_work_0_12",
                "months_in_work_12_24",
                "time_to_first_work",
            ],
            "analysis_model": "Logistic regression adjusted for sex and age.",
            "covariates": ["sex", "age"],
            "missing": "complete_case",
            "subgroups": ["sex"],
            "notes": "",
        },
        actor=user,
    )
    services.lock_plan(plan, actor=user)


def warm_kernels() -> None:
    """Compile the numba kernels (or load them from the on-disk cache) before any build, as a
    worker that has built a report before would have them."""
    import numpy as np

    from reports.analysis import sequences as sq

    rng = np.random.default_rng(1)
    seqs = rng.integers(0, 4, (300, 24))
    sm, indel = sq.substitution_costs(seqs, 4, "TRATE")
    sq.typology(seqs, 4, [2, 3], sm=sm, indel=indel)
    sq.typology(seqs, 4, [2, 3], sm=sm, indel=indel, clara_threshold=100, clara_sample_size=80)


def build_one(kind: str) -> None:
    """Child process: build one report kind and print its figures as one JSON line."""
    setup_django()
    from django.core.cache import cache

    from reports import pipeline
    from reports.analysis import sequences as sq
    from trial.models import Trial

    cache.clear()  # the monthly sequences are built from the spells, not read from the cache
    typology_seconds: list[float] = []
    distinct: list[int] = []
    plain_typology = sq.typology

    def timed_typology(*args: Any, **kwargs: Any) -> sq.Typology:
        started = time.perf_counter()
        result = plain_typology(*args, **kwargs)
        typology_seconds.append(time.perf_counter() - started)
        distinct.append(result.n_distinct)
        return result

    sq.typology = timed_typology
    trial = Trial.objects.get(code=CODE)
    plan = pipeline.plan_in_force(trial)
    spec = pipeline.BuildSpec(
        trial=trial,
        kind=kind,
        cut_off=CUT_OFF,
        seed=pipeline.default_seed(trial, kind, CUT_OFF, plan),
        blinded=False,
        plan=plan,
    )
    marks: list[tuple[str, float]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        result = pipeline.build(
            spec,
            Path(folder),
            progress=lambda name, _pct: marks.append((name, time.perf_counter())),
        )
        pages = pdf_pages(result.pdf) if result.pdf is not None else 0
    total = time.perf_counter() - started
    marks.append(("end", started + total))
    stages = {name: marks[i + 1][1] - at for i, (name, at) in enumerate(marks[:-1])}
    print(
        json.dumps(
            {
                "total": total,
                "stages": stages,
                "typology": sum(typology_seconds),
                "distinct": distinct,
                "pages": pages,
                "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        ),
        flush=True,
    )


def pdf_pages(path: Path) -> int:
    """The page count by poppler's pdfinfo (0 if it is not installed)."""
    try:
        done = subprocess.run(
            ["pdfinfo", str(path)],  # noqa: S607 - poppler-utils from the system
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return 0
    for line in done.stdout.splitlines():
        if line.startswith("Pages:"):
            return int(line.split()[1])
    return 0


def load_average() -> str:
    return "load " + " ".join(f"{value:.1f}" for value in os.getloadavg())


def main() -> None:
    setup_django()
    from pathways.models import Spell
    from reports import pipeline

    # BENCH_REUSE_DATA=1 keeps the data of an earlier run (its load takes several minutes).
    if (
        os.environ.get("BENCH_REUSE_DATA") == "1"
        and Spell.objects.filter(trial__code=CODE).exists()
    ):
        emit(BENCH, "load", "reused", "", "data of an earlier run (BENCH_REUSE_DATA=1)")
    else:
        prepare()
    warm_kernels()
    for kind in KINDS:
        if kind not in pipeline.KINDS:
            emit(BENCH, f"{kind} report", "not run", "", "no such report kind yet")
            continue
        load = load_average()
        done = subprocess.run(
            [sys.executable, __file__, "--build", kind],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            sys.stderr.write(done.stderr)
            raise SystemExit(f"the {kind} report failed")
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        slowest = max(figures["stages"], key=figures["stages"].get)
        emit(
            BENCH,
            f"{kind} report",
            figures["total"],
            "s",
            f"pipeline.build in a fresh process, {figures['pages']} pages; slowest stage "
            f"{slowest}; {load} at the start",
        )
        for name, seconds in figures["stages"].items():
            emit(BENCH, f"{kind} stage {name}", seconds, "s", "from the progress callback")
        if figures["distinct"]:
            emit(
                BENCH,
                f"{kind} typology",
                figures["typology"],
                "s",
                f"sequences.typology, k = 2..6, {figures['distinct'][0]} distinct sequences "
                "(part of analyse)",
            )
        emit(BENCH, f"{kind} peak RSS", figures["peak_mb"], "MB", "ru_maxrss of the process")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--build"]:
        build_one(sys.argv[2])
    else:
        main()
