"""The CSV import of an existing trial (trialimport/) at 2,000 participants.

A legacy trial is generated with a fixed seed in the documented format
(docs/import-formats.md; the generator is bench/legacy_files.py): trial.csv, 2 arms, 6 sites of
different sizes, 3 baseline covariates, 4 follow-up visits (m3, m6, m12, m24), 2,000
participants (about 10 % with a valid synthetic personal number, the rest pseudonymised), an
allocation for each, an assessments.csv row for each visit of each participant (8,000 rows, each
answering two instruments: the built-in "Employment and benefits", 7 items, and a
trial-defined "Wellbeing", 10 items of five types with a scale, some answers given by label and
some as missing-data codes) and about 2 % withdrawals, dated after the last assessment. The
set-up files (trial, arms, sites, covariates, visits) are imported first and the two
instruments attached to the four visits, as a trial moving from another system would; the data
files are then measured, on PostgreSQL:

1. ``check``: ``import_trial(..., dry_run=True)`` into that trial (everything is applied,
   then rolled back): seconds, data rows per second and the peak resident memory of the step;
2. ``import``: the same files for real, with the time of each phase (the first pass that reads
   and checks every file, then applying each file) taken from the progress callback;
3. ``re-import``: the same files again, which must change nothing;
4. queries per row: a 200-participant trial imported (and re-imported) under
   ``CaptureQueriesContext``, split by file with the same callback;
5. ``browser job``: into an emptied database, the set-up files and instruments first (a trial
   must exist for the browser page), then the data files through
   ``import_jobs.start_check`` and ``import_jobs.confirm`` in this process, with
   ``INLINE_BYTES`` raised above the files' size so that both steps run ``execute`` as a Celery
   worker would. ``wrapper overhead`` is each step's time outside ``import_trial``.

Last, the counts (participants, allocations, assessments, withdrawals, personal numbers) must
equal what was generated and ``verification.verify`` must pass the allocation chain; otherwise the
script exits non-zero after printing its figures. Run through bench/run.py, which provides the
PostgreSQL/Redis environment. ``BENCH_IMPORT_PARTICIPANTS`` changes the size.
"""

from __future__ import annotations

import contextlib
import os
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import emit, reset_database, setup_django
from legacy_files import DATA_FILES, SETUP_FILES, WELLBEING, Legacy, generate

BENCH = "import"
PARTICIPANTS = int(os.environ.get("BENCH_IMPORT_PARTICIPANTS", "2000"))
SMALL = 200  # participants of the run whose queries are counted
SEED = 2019
CODE = "bench-import"
# --- measuring --------------------------------------------------------------------------------


def reset_peak() -> None:
    """Start a new peak of resident memory (Linux: VmHWM is reset by clear_refs 5)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_mb() -> float:
    """Peak resident memory since reset_peak (VmHWM), else of the whole process (ru_maxrss)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Run:
    """One import_trial call: its report, its time, and when each data row was dealt with."""

    report: Any
    seconds: float
    started: float
    ticks: list[float]
    queries_at: list[int]
    cpu: float = 0.0
    """CPU seconds of this process (the database server's are not in it)."""


def run_import(
    files: dict[str, bytes],
    actor: Any,
    *,
    dry_run: bool,
    queries: Any = None,
    trial: Any = None,
) -> Run:
    from trialimport import services as importing

    ticks: list[float] = []
    queries_at: list[int] = []

    def progress(done: int, total: int) -> None:
        ticks.append(time.perf_counter())
        if queries is not None:
            queries_at.append(len(queries.captured_queries))

    started, cpu = time.perf_counter(), time.process_time()
    report = importing.import_trial(
        files, actor=actor, trial=trial, dry_run=dry_run, progress=progress
    )
    seconds = time.perf_counter() - started
    return Run(report, seconds, started, ticks, queries_at, time.process_time() - cpu)


def phases(run: Run, legacy: Legacy) -> list[tuple[str, int, float, int]]:
    """(phase, rows, seconds, queries) for the first pass and each file applied, in order.

    Rows are applied file by file in the order of the data files, each counted once, so the
    progress ticks mark where one file ends and the next begins. The first pass (reading and
    checking every file) ends at the first tick, the first participant; what follows the last
    tick (the import's audit event, the commit) is "finish".
    """
    if len(run.ticks) != legacy.data_rows(DATA_FILES):
        raise SystemExit(f"{len(run.ticks)} progress ticks for {legacy.data_rows(DATA_FILES)} rows")
    queries = run.queries_at or [0] * len(run.ticks)
    result = [("read and check", 0, run.ticks[0] - run.started, queries[0])]
    end = 0
    for name in DATA_FILES:
        rows = legacy.rows.get(name, 0)
        if not rows:
            continue
        first, end = end, end + rows
        before = run.ticks[first - 1] if first else run.ticks[0]
        spent = queries[end - 1] - (queries[first - 1] if first else queries[0])
        result.append((name, rows, run.ticks[end - 1] - before, spent))
    result.append(("finish", 0, run.started + run.seconds - run.ticks[-1], 0))
    return result


def slowest(run: Run, legacy: Legacy) -> str:
    name, rows, seconds, _queries = max(phases(run, legacy), key=lambda phase: phase[2])
    per_row = f", {seconds / rows * 1000:.1f} ms/row" if rows else ""
    return f"slowest: {name} {seconds:.1f} s{per_row}"


def load() -> str:
    return "load " + " ".join(f"{value:.2f}" for value in os.getloadavg())


def make_actor() -> Any:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user(username="bench-importer")
    user.user_permissions.add(Permission.objects.get(codename="add_trial"))
    return user


def prepare(legacy: Legacy, actor: Any, problems: list[str]) -> Any:
    """The trial's set-up imported and its two instruments attached to every visit: the trial
    the data files go into."""
    from instruments.setup.services import attach_instrument, create_instrument, default_instrument
    from trial.models import Trial

    setup = run_import(legacy.subset(SETUP_FILES), actor, dry_run=False)
    check_report(setup.report, "set-up", problems, created=legacy.data_rows(SETUP_FILES))
    trial = Trial.objects.get(code=legacy.code)
    visits = list(trial.visit_definitions.all())
    attach_instrument(default_instrument(trial, actor=actor), visits, actor=actor)
    wellbeing = create_instrument(
        trial,
        code="wellbeing",
        name_en="Wellbeing",
        name_nb="Velvære",
        definition=WELLBEING,
        actor=actor,
    )
    attach_instrument(wellbeing, visits, actor=actor)
    return trial


# --- checking ---------------------------------------------------------------------------------


def check_trial(code: str, legacy: Legacy, label: str, problems: list[str]) -> None:
    """Counts equal to what was generated, and an allocation chain that verifies."""
    from instruments.models import Assessment
    from randomisation.allocation.verification import verify
    from randomisation.models import Allocation
    from trial.models import Participant, Trial, Withdrawal

    trial = Trial.objects.filter(code=code).first()
    if trial is None:
        problems.append(f"{label}: trial {code} does not exist")
        return
    people = Participant.objects.filter(trial=trial)
    found = {
        "participants": people.count(),
        "personal numbers": people.exclude(personal_number_hash=None)
        .exclude(personal_number_hash="")
        .count(),
        "allocations": Allocation.objects.filter(trial=trial, participant__isnull=False).count(),
        "assessments": Assessment.objects.filter(visit__participant__trial=trial).count(),
        "withdrawals": Withdrawal.objects.filter(participant__trial=trial).count(),
    }
    expected = {
        "participants": legacy.participants,
        "personal numbers": legacy.numbers,
        "allocations": legacy.allocations,
        "assessments": legacy.assessments,
        "withdrawals": legacy.withdrawals,
    }
    for what, count in expected.items():
        if found[what] != count:
            problems.append(f"{label}: {found[what]} {what}, expected {count}")
    verification = verify(trial)
    if not verification.ok or verification.checked != legacy.allocations:
        problems.append(f"{label}: verify ok={verification.ok}, {verification.checked} checked")


def check_report(report: Any, label: str, problems: list[str], *, created: int) -> None:
    if not report.ok:
        first = "; ".join(str(error) for error in report.errors[:3])
        problems.append(f"{label}: {len(report.errors)} errors, e.g. {first}")
    if report.created != created:
        problems.append(f"{label}: {report.created} rows created, expected {created}")


# --- the steps --------------------------------------------------------------------------------


def measure_full(legacy: Legacy, problems: list[str]) -> None:
    """check, import and re-import of the data files into the prepared trial."""
    from trial.models import AuditEvent, Participant

    reset_database()
    actor = make_actor()
    trial = prepare(legacy, actor, problems)
    data = legacy.subset(DATA_FILES)
    rows = legacy.data_rows(DATA_FILES)
    counts = (
        f"{legacy.participants} participants ({legacy.numbers} with a personal number), "
        f"{legacy.rows['assessments.csv']} assessment rows ({legacy.assessments} assessments: "
        f"7 + 10 items at 4 visits), {legacy.withdrawals} withdrawals; {load()}"
    )
    emit(BENCH, "data rows", rows, "rows", counts)

    before = peak_mb()
    reset_peak()
    check = run_import(data, actor, dry_run=True, trial=trial)
    emit(BENCH, "check", check.seconds, "s", f"dry run; {slowest(check, legacy)}; {load()}")
    emit(BENCH, "check rate", rows / check.seconds, "rows/s", f"{rows} data rows, 4 files")
    emit(BENCH, "check peak RSS", peak_mb(), "MB", f"VmHWM of the step; {before:.0f} MB before")
    check_report(check.report, "check", problems, created=rows)
    if check.report.written or Participant.objects.exists():
        problems.append("check: the dry run wrote participants")

    reset_peak()
    audit_before = AuditEvent.objects.count()
    done = run_import(data, actor, dry_run=False, trial=trial)
    audit_events = AuditEvent.objects.count() - audit_before
    emit(BENCH, "import", done.seconds, "s", f"{slowest(done, legacy)}; {load()}")
    emit(BENCH, "import rate", rows / done.seconds, "rows/s", f"{audit_events} audit events")
    emit(
        BENCH,
        "import CPU rate",
        rows / done.cpu,
        "rows/s",
        f"rows per CPU second of this process ({done.cpu:.1f} s), whatever else runs beside it; "
        "the database server's CPU is not counted",
    )
    emit(BENCH, "import peak RSS", peak_mb(), "MB", "VmHWM of the step")
    for name, phase_rows, seconds, _queries in phases(done, legacy):
        note = f"{phase_rows / seconds:.0f} rows/s" if phase_rows else ""
        if name == "read and check":
            note = "first pass over every file, until the first participant is applied"
        elif name == "finish":
            note = "the import's audit event, commit"
        emit(BENCH, f"import: {name}", seconds, "s", note)
    check_report(done.report, "import", problems, created=rows)
    if not done.report.written:
        problems.append("import: not written")

    again = run_import(data, actor, dry_run=False, trial=trial)
    emit(BENCH, "re-import", again.seconds, "s", f"same files; {slowest(again, legacy)}")
    emit(BENCH, "re-import rate", rows / again.seconds, "rows/s", "every row unchanged")
    check_report(again.report, "re-import", problems, created=0)
    if again.report.unchanged != rows or again.report.written:
        problems.append(f"re-import: {again.report.unchanged} unchanged of {rows}, or written")
    if AuditEvent.objects.count() - audit_before != audit_events:
        problems.append("re-import: wrote audit events")
    check_trial(CODE, legacy, "import", problems)


def measure_queries(problems: list[str]) -> None:
    """Queries per row, on a smaller trial, per file."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    reset_database()
    actor = make_actor()
    code = f"{CODE}-small"
    small = generate(SMALL, code, SEED + 1)
    trial = prepare(small, actor, problems)
    data = small.subset(DATA_FILES)
    rows = small.data_rows(DATA_FILES)
    for label, created in (("import", rows), ("re-import", 0)):
        with CaptureQueriesContext(connection) as queries:
            run = run_import(data, actor, dry_run=False, queries=queries, trial=trial)
        check_report(run.report, f"{label} of {SMALL}", problems, created=created)
        total = len(queries.captured_queries)
        by_file = [
            f"{name.removesuffix('.csv')} {spent / phase_rows:.1f}"
            for name, phase_rows, _seconds, spent in phases(run, small)
            if phase_rows
        ]
        emit(
            BENCH,
            f"{label} queries per row",
            total / rows,
            "SQL/row",
            f"{total} queries for {rows} rows ({SMALL} participants); per row: "
            + ", ".join(by_file),
        )
    check_trial(code, small, f"import of {SMALL}", problems)


def measure_browser_job(legacy: Legacy, problems: list[str]) -> None:
    """The data files through the browser's job wrapper, run in this process."""
    from trialimport import jobs as import_jobs
    from trialimport import services as importing

    reset_database()
    actor = make_actor()
    trial = prepare(legacy, actor, problems)
    data = legacy.subset(DATA_FILES)
    rows = legacy.data_rows(DATA_FILES)
    size = sum(len(content) for content in data.values())
    import_jobs.INLINE_BYTES = max(import_jobs.INLINE_BYTES, size)

    # Time import_trial inside the job, to show what the wrapper adds around it.
    inner: list[float] = []
    original = importing.import_trial

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            inner.append(time.perf_counter() - started)

    importing.import_trial = timed
    try:
        started = time.perf_counter()
        checked = import_jobs.start_check(trial, data, actor=actor)
        check_seconds = time.perf_counter() - started
        started = time.perf_counter()
        done = import_jobs.confirm(checked, actor=actor)
        import_seconds = time.perf_counter() - started
    finally:
        importing.import_trial = original
    note = f"{rows} data rows, {size / 1024:.0f} KB in 4 files, in-process execute()"
    emit(BENCH, "browser job: check", check_seconds, "s", f"start_check; {note}")
    emit(
        BENCH,
        "browser job: import",
        import_seconds,
        "s",
        f"confirm; {rows / import_seconds:.0f} rows/s",
    )
    if len(inner) == 2:
        overhead = check_seconds + import_seconds - sum(inner)
        emit(
            BENCH,
            "browser job: wrapper overhead",
            overhead * 1000,
            "ms",
            f"both steps less import_trial ({sum(inner):.1f} s): record, encrypt, keep, "
            "claim, progress, report",
        )
    else:
        problems.append(f"browser job: import_trial ran {len(inner)} times, expected 2")
    if checked.status != "checked" or not checked.report.get("ok"):
        problems.append(f"browser job: check ended {checked.status}, report {checked.report}")
    if done.status != "done":
        problems.append(f"browser job: import ended {done.status}: {done.error}")
    check_trial(CODE, legacy, "browser job", problems)


def main() -> None:
    setup_django()

    started = time.perf_counter()
    legacy = generate(PARTICIPANTS, CODE, SEED)
    size = sum(len(data) for data in legacy.files.values())
    emit(
        BENCH,
        "generate files",
        time.perf_counter() - started,
        "s",
        f"{PARTICIPANTS} participants, {size / 1024:.0f} KB in {len(legacy.files)} files",
    )
    problems: list[str] = []
    measure_full(legacy, problems)
    measure_queries(problems)
    measure_browser_job(legacy, problems)
    emit(BENCH, "correctness problems", len(problems), "", "; ".join(problems) or "counts, verify")
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        raise SystemExit(f"{len(problems)} correctness problems: {problems[0]}")


if __name__ == "__main__":
    main()
