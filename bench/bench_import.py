"""The CSV import of an existing trial (randomisation/importing.py) at 2,000 participants.

A legacy trial is generated with a fixed seed in the documented format
(docs/import-formats.md): trial.csv, 2 arms, 6 sites of different sizes, 3 baseline
covariates, 2 follow-up visits (m6, m12), 2,000 participants (about 10 % with a valid
synthetic personal number, the rest pseudonymised), an allocation for each, an assessment for
each visit of each participant (4,000 rows) and about 2 % withdrawals, dated after the last
assessment. Then, on PostgreSQL:

1. ``check``: ``import_trial(..., dry_run=True)`` into a new trial (everything is applied,
   then rolled back): seconds, data rows per second and the peak resident memory of the step;
2. ``import``: the same files for real, with the time of each phase (the first pass that reads
   and checks every file, then applying each file) taken from the progress callback;
3. ``re-import``: the same files again, which must change nothing;
4. queries per row: a 200-participant trial imported (and re-imported) under
   ``CaptureQueriesContext``, split by file with the same callback;
5. ``browser job``: into an emptied database, the set-up files first (trial, arms, sites,
   covariates, visits: a trial must exist for the browser page), then the data files through
   ``import_jobs.start_check`` and ``import_jobs.confirm`` in this process, with
   ``INLINE_BYTES`` raised above the files' size so that both steps run ``execute`` as a Celery
   worker would. ``wrapper overhead`` is each step's time outside ``import_trial``.

Last, the counts (participants, allocations, assessments, withdrawals, personal numbers) must
equal what was generated and ``verification.verify`` must pass the allocation chain; otherwise the
script exits non-zero after printing its figures. Run through bench/run.py, which provides the
PostgreSQL/Redis environment. ``BENCH_IMPORT_PARTICIPANTS`` changes the size.
"""

from __future__ import annotations

import calendar
import contextlib
import csv
import datetime as dt
import io
import os
import random
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import emit, reset_database, setup_django

BENCH = "import"
PARTICIPANTS = int(os.environ.get("BENCH_IMPORT_PARTICIPANTS", "2000"))
SMALL = 200  # participants of the run whose queries are counted
SEED = 2019
CODE = "bench-import"
# (code, name, municipality number, region, relative size)
SITES = [
    ("OSL1", "NAV Grünerløkka", "0301", "Oslo", 1.6),
    ("BGO1", "NAV Bergenhus", "4601", "Vestland", 1.2),
    ("TRD1", "NAV Trondheim", "5001", "Trøndelag", 1.0),
    ("SVG1", "NAV Stavanger", "1103", "Rogaland", 0.9),
    ("KRS1", "NAV Kristiansand", "4204", "Agder", 0.7),
    ("TOS1", "NAV Tromsø", "5501", "Troms", 0.6),
]
VISITS = [("m6", "6 months", 6), ("m12", "12 months", 12)]
OCCUPATIONS = ["2512", "4110", "5120", "5223", "5321", "7411", "8322", "9112"]
BENEFITS = ["work_assessment_allowance", "social_assistance", "unemployment_benefit"]
SETUP_FILES = ("trial.csv", "arms.csv", "sites.csv", "covariates.csv", "visits.csv")


@dataclass
class Legacy:
    """The generated files and what they hold."""

    files: dict[str, bytes]
    participants: int = 0
    numbers: int = 0
    allocations: int = 0
    assessments: int = 0
    withdrawals: int = 0
    rows: dict[str, int] = field(default_factory=dict)  # data rows per file

    def data_rows(self, names: tuple[str, ...] | None = None) -> int:
        return sum(n for name, n in self.rows.items() if names is None or name in names)

    def subset(self, names: tuple[str, ...]) -> dict[str, bytes]:
        return {name: data for name, data in self.files.items() if name in names}


def add_months(day: dt.date, months: int) -> dt.date:
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def to_csv(header: list[str], rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def generate(n: int, code: str, seed: int) -> Legacy:
    """A completed legacy trial of ``n`` participants, as its CSV files."""
    from tests.factories import personal_number

    rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data
    start = dt.date(2021, 1, 4)
    sites = [site[0] for site in SITES]
    weights = [site[4] for site in SITES]
    people, allocations, assessments, withdrawals = [], [], [], []
    numbers = 0
    for i in range(n):
        site = rng.choices(sites, weights)[0]
        study_id = f"{site}-{i + 1:05d}"
        enrolled = start + dt.timedelta(days=rng.randint(0, 729))
        consented = enrolled - dt.timedelta(days=rng.randint(0, 3))
        number = personal_number() if rng.random() < 0.10 else ""
        numbers += bool(number)
        prior_work = rng.choice(["yes", "no", ""])
        age, sex = rng.randint(18, 67), rng.choice("fm")
        people.append([study_id, site, number, enrolled, "v2", consented, age, sex, prior_work])
        randomised = enrolled + dt.timedelta(days=rng.randint(0, 7))
        reference = f"ENV-{i + 1}" if rng.random() < 0.8 else ""
        allocations.append([study_id, rng.choice("AB"), randomised, reference])
        last = randomised
        for visit, _label, months in VISITS:
            due = add_months(randomised, months)
            # 95 % in the window (14 days before to 30 after), the rest up to 60 days late.
            late = rng.random() < 0.05
            last = due + dt.timedelta(days=rng.randint(31, 60) if late else rng.randint(-14, 30))
            in_work = rng.random() < 0.2 + 0.02 * months
            on_benefits = not in_work or rng.random() < 0.3
            assessments.append(
                [
                    study_id,
                    visit,
                    last,
                    "yes" if in_work else "no",
                    rng.choice([8, 15, 20, 30, 37.5]) if in_work else "",
                    rng.randint(8, 45) * 1000 if in_work else "",
                    rng.choice(OCCUPATIONS) if in_work else "",
                    "yes" if on_benefits else "no",
                    rng.choice(BENEFITS) if on_benefits else "",
                    rng.randint(1, 5),
                ]
            )
        if rng.random() < 0.02:
            withdrawn = last + dt.timedelta(days=rng.randint(1, 90))
            scope = rng.choice(["no_contact", "no_data"])
            withdrawals.append([study_id, withdrawn, scope, "No longer wishes to take part"])

    files = {
        "trial.csv": to_csv(
            ["code", "title", "design", "status", "target_size", "registry_id"],
            [[code, "Legacy IPS trial 2021–2024", "individual", "closed", n, "NCT09999999"]],
        ),
        "arms.csv": to_csv(
            ["code", "name", "allocation_weight", "is_control"],
            [["A", "IPS", 1, "no"], ["B", "Usual services", 1, "yes"]],
        ),
        "sites.csv": to_csv(
            ["code", "name", "municipality_number", "region"], [list(s[:4]) for s in SITES]
        ),
        "covariates.csv": to_csv(
            ["key", "label", "kind", "choices", "min_value", "max_value", "required"],
            [
                ["age", "Age", "integer", "", 18, 67, "yes"],
                ["sex", "Sex", "choice", "f=Female|m=Male", "", "", "yes"],
                ["prior_work", "Worked before", "boolean", "", "", "", "no"],
            ],
        ),
        "visits.csv": to_csv(["code", "label", "offset_months"], [list(visit) for visit in VISITS]),
        "participants.csv": to_csv(
            [
                "study_id",
                "site",
                "personal_number",
                "enrolled_on",
                "consent_version",
                "consent_date",
                "age",
                "sex",
                "prior_work",
            ],
            people,
        ),
        "allocations.csv": to_csv(["study_id", "arm", "randomised_on", "reference"], allocations),
        "assessments.csv": to_csv(
            [
                "study_id",
                "visit",
                "assessed_on",
                "in_paid_work",
                "hours_per_week",
                "monthly_earnings",
                "occupation_code",
                "on_benefits",
                "benefit_type",
                "self_rated_health",
            ],
            assessments,
        ),
        "withdrawals.csv": to_csv(["study_id", "withdrawn_on", "scope", "reason"], withdrawals),
    }
    return Legacy(
        files=files,
        participants=n,
        numbers=numbers,
        allocations=len(allocations),
        assessments=len(assessments),
        withdrawals=len(withdrawals),
        rows={name: data.count(b"\n") - 1 for name, data in files.items()},
    )


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


def run_import(files: dict[str, bytes], actor: Any, *, dry_run: bool, queries: Any = None) -> Run:
    from randomisation import importing

    ticks: list[float] = []
    queries_at: list[int] = []

    def progress(done: int, total: int) -> None:
        ticks.append(time.perf_counter())
        if queries is not None:
            queries_at.append(len(queries.captured_queries))

    started = time.perf_counter()
    report = importing.import_trial(files, actor=actor, dry_run=dry_run, progress=progress)
    seconds = time.perf_counter() - started
    return Run(report, seconds, started, ticks, queries_at)


def phases(run: Run, legacy: Legacy) -> list[tuple[str, int, float, int]]:
    """(phase, rows, seconds, queries) for the first pass and each file applied, in order.

    Rows are applied file by file in the order of importing.FILES, each counted once, so the
    progress ticks mark where one file ends and the next begins. The first pass (reading and
    checking every file) ends at the first tick, the trial's own row; what follows the last
    tick (the trial's status, the import's audit event, the commit) is "finish".
    """
    from randomisation import importing

    if len(run.ticks) != legacy.data_rows():
        raise SystemExit(f"{len(run.ticks)} progress ticks for {legacy.data_rows()} rows")
    queries = run.queries_at or [0] * len(run.ticks)
    result = [("read and check", 0, run.ticks[0] - run.started, queries[0])]
    end = 0
    for name in importing.FILES:
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
    """check, import and re-import of the whole trial into a new one."""
    from trial.models import AuditEvent, Participant, Trial

    reset_database()
    actor = make_actor()
    rows = legacy.data_rows()
    counts = (
        f"{legacy.participants} participants ({legacy.numbers} with a personal number), "
        f"{legacy.assessments} assessments, {legacy.withdrawals} withdrawals; {load()}"
    )
    emit(BENCH, "data rows", rows, "rows", counts)

    before = peak_mb()
    reset_peak()
    check = run_import(legacy.files, actor, dry_run=True)
    emit(BENCH, "check", check.seconds, "s", f"dry run into a new trial; {slowest(check, legacy)}")
    emit(BENCH, "check rate", rows / check.seconds, "rows/s", f"{rows} data rows, all files")
    emit(BENCH, "check peak RSS", peak_mb(), "MB", f"VmHWM of the step; {before:.0f} MB before")
    check_report(check.report, "check", problems, created=rows)
    if check.report.written or Trial.objects.filter(code=CODE).exists():
        problems.append("check: the dry run wrote the trial")
    if Participant.objects.exists():
        problems.append("check: the dry run wrote participants")

    reset_peak()
    audit_before = AuditEvent.objects.count()
    done = run_import(legacy.files, actor, dry_run=False)
    audit_events = AuditEvent.objects.count() - audit_before
    emit(BENCH, "import", done.seconds, "s", f"{slowest(done, legacy)}; {load()}")
    emit(BENCH, "import rate", rows / done.seconds, "rows/s", f"{audit_events} audit events")
    emit(BENCH, "import peak RSS", peak_mb(), "MB", "VmHWM of the step")
    for name, phase_rows, seconds, _queries in phases(done, legacy):
        if name in SETUP_FILES:
            continue  # a few rows each, milliseconds
        note = f"{phase_rows / seconds:.0f} rows/s" if phase_rows else ""
        if name == "read and check":
            note = "first pass over every file, until the trial row is applied"
        elif name == "finish":
            note = "trial status, the import's audit event, commit"
        emit(BENCH, f"import: {name}", seconds, "s", note)
    check_report(done.report, "import", problems, created=rows)
    if not done.report.written:
        problems.append("import: not written")

    again = run_import(legacy.files, actor, dry_run=False)
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
    rows = small.data_rows()
    for label, created in (("import", rows), ("re-import", 0)):
        with CaptureQueriesContext(connection) as queries:
            run = run_import(small.files, actor, dry_run=False, queries=queries)
        check_report(run.report, f"{label} of {SMALL}", problems, created=created)
        total = len(queries.captured_queries)
        by_file = [
            f"{name.removesuffix('.csv')} {spent / phase_rows:.1f}"
            for name, phase_rows, _seconds, spent in phases(run, small)
            if phase_rows and name not in SETUP_FILES
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
    from randomisation import import_jobs, importing
    from trial.models import Trial

    reset_database()
    actor = make_actor()
    setup = run_import(legacy.subset(SETUP_FILES), actor, dry_run=False)
    check_report(setup.report, "browser set-up", problems, created=legacy.data_rows(SETUP_FILES))
    trial = Trial.objects.get(code=CODE)
    data = legacy.subset(importing.DATA_FILES)
    rows = legacy.data_rows(importing.DATA_FILES)
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
