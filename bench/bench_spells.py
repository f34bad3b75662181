"""Register spells at scale: a 1,000,000-row import and sequences of 10,000 × 72 months.

A trial of 10,000 randomised participants (written with bulk_create; randomisation dates over
two years) with the standard state alphabet and 72 months of follow-up. A register file of
1,000,000 rows keyed by study id (100 consecutive spells per participant, about three weeks
each, cycling through the five states; every tenth spell open-ended is avoided so the file is
valid) is generated in memory, then imported through the same functions the browser and the
Celery jobs use: check (parse, validate, COPY into the staging table, compare) and apply
(INSERT … ON CONFLICT, flags). Then the same file again (must write nothing), and the monthly
sequences of all 10,000 participants over 72 months: cold (query + vectorised build + cache
write), warm (from the cache), and the pure build alone. Issue target: the import in under
60 s on PostgreSQL. Run through bench/run.py, which provides the PostgreSQL/Redis environment.
"""

from __future__ import annotations

import datetime as dt
import io
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import emit, reset_database, setup_django

BENCH = "spells"
PARTICIPANTS = 10_000
SPELLS_EACH = 100
MONTHS = 72
CODE = "bench-spells"


def make_trial() -> tuple[object, list[tuple[int, str, dt.date | None]]]:
    from pathways import services
    from trial.models import Arm, Participant, Site, Trial

    trial = Trial.objects.create(code=CODE, title="Spells benchmark", status="recruiting")
    Arm.objects.create(trial=trial, code="A", name="Intervention")
    Arm.objects.create(trial=trial, code="B", name="Usual services", is_control=True)
    site = Site.objects.create(trial=trial, code="OSL", name="NAV Oslo")
    start = dt.date(2020, 1, 1)
    Participant.objects.bulk_create(
        [
            Participant(
                trial=trial,
                site=site,
                study_id=f"OSL-{i:06d}",
                enrolled_on=start + dt.timedelta(days=i % 730),
                randomised_on=start + dt.timedelta(days=i % 730),
            )
            for i in range(PARTICIPANTS)
        ],
        batch_size=2000,
    )
    services.add_standard_alphabet(trial, actor=None)
    services.update_settings(
        trial, actor=None, follow_up_months=MONTHS, data_until=dt.date(2030, 1, 1)
    )
    people = list(
        Participant.objects.filter(trial=trial).values_list("id", "study_id", "randomised_on")
    )
    return trial, people


def register_file(people: list[tuple[int, str, dt.date | None]]) -> bytes:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(1)
    n = len(people) * SPELLS_EACH
    study = np.repeat([p[1] for p in people], SPELLS_EACH)
    anchor = np.repeat(np.array([p[2] for p in people], dtype="datetime64[D]"), SPELLS_EACH)
    index = np.tile(np.arange(SPELLS_EACH), len(people))
    starts = anchor + index * 21
    ends = starts + rng.integers(5, 20, size=n)
    states = np.array(["work", "education", "aap", "disability", "health"])[
        (index + rng.integers(0, 5, size=n)) % 5
    ]
    frame = pd.DataFrame(
        {
            "study_id": study,
            "state": states,
            # astype: numpy's stubs lose the datetime64 dtype through the additions above.
            "start_date": np.datetime_as_string(starts.astype("datetime64[D]"), unit="D"),
            "end_date": np.datetime_as_string(ends.astype("datetime64[D]"), unit="D"),
            "source": "FD-Trygd",
            "detail": "",
        }
    )
    out = io.StringIO()
    frame.to_csv(out, index=False)
    return out.getvalue().encode()


def run_import(trial: object, data: bytes, label: str) -> None:
    from pathways import importing
    from pathways.models import SpellImport

    started = time.perf_counter()
    spell_import = importing.create_import(
        trial,  # type: ignore[arg-type]
        data=data,
        file_name="register.csv",
        default_source="FD-Trygd",
        actor=None,
        keep_file=False,
    )
    importing.check_import(spell_import, data)
    checked = time.perf_counter()
    spell_import.refresh_from_db()
    assert spell_import.rows_invalid == 0, spell_import.errors[:3]
    importing.confirm_import(spell_import, skip_invalid=False, actor=None)
    status = importing.execute_apply(spell_import.pk)
    finished = time.perf_counter()
    spell_import.refresh_from_db()
    assert status == SpellImport.Status.DONE, spell_import.error
    rows = spell_import.rows_total
    emit(BENCH, f"{label} check", checked - started, "s", f"{rows:,} rows: parse, validate, COPY")
    emit(BENCH, f"{label} apply", finished - checked, "s", "INSERT … ON CONFLICT, flags")
    emit(
        BENCH,
        f"{label} total",
        finished - started,
        "s",
        f"{spell_import.rows_written:,} spells written (target < 60 s)",
    )


def main() -> None:
    setup_django()
    from django.core.cache import cache
    from django.db import connection

    from pathways import sequences, services

    reset_database()
    trial, people = make_trial()
    started = time.perf_counter()
    data = register_file(people)
    emit(BENCH, "generate file", time.perf_counter() - started, "s", f"{len(data) / 1e6:.0f} MB")
    run_import(trial, data, "import 1M")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE pathways_spell")
    run_import(trial, data, "re-import 1M")

    cache.clear()
    started = time.perf_counter()
    table = services.sequence_table(trial)  # type: ignore[arg-type]
    emit(
        BENCH,
        "sequences cold",
        time.perf_counter() - started,
        "s",
        f"{table.values.shape[0]:,} × {table.values.shape[1]} months: query, build, cache",
    )
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        services.sequence_table(trial)  # type: ignore[arg-type]
        timings.append(time.perf_counter() - started)
    emit(BENCH, "sequences warm", 1000 * sorted(timings)[2], "ms", "median of 5, from the cache")
    states = services.alphabet(trial)  # type: ignore[arg-type]
    spells = services._load_spells(trial, {s.pk: r for r, s in enumerate(states)})  # type: ignore[arg-type]
    people_frame = services.anchors(trial)  # type: ignore[arg-type]
    for rule in ("priority", "majority"):
        started = time.perf_counter()
        sequences.build(
            spells,
            people_frame,
            n_states=len(states),
            months=MONTHS,
            rule=rule,
        )
        emit(BENCH, f"build {rule}", time.perf_counter() - started, "s", f"{len(spells):,} spells")


if __name__ == "__main__":
    main()
