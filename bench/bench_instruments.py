"""Trial-defined instruments at scale: the data-entry page and the effect report on a score.

The report benchmark's trial (``bench_reports.build``: 10,000 participants, 4 visits each) gets
three instruments of its own with 40 items in all, as the issue sets the scale (each: 7
five-level choices summed into a scale score, 3 yes/no, 2 integers, 1 or 2 decimals), all three
asked at every visit, and their answers for about 92 % of the visits (about 110,000 answer rows,
written with bulk_create; checked and scored by the functions data entry uses). Twenty
participants are kept unanswered for the data-entry writes. ``BENCH_ITEMS=120`` makes each
instrument 40 items (20 choices, 10 yes/no, 6 integers, 4 decimals), three times the issue's
scale.

Figures:
- the data-entry page (GET, three instruments of 40 items on one page) and saving one
  instrument (POST of 40 answers: checked, scored, audited), p50/p95 over 30 requests through
  Django's test Client as a coordinator;
- the effect report with a scale score as the primary outcome and items of the other two
  instruments as secondary outcomes, ordered and built by a real Celery worker (as
  bench_reports), with its stages.
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_reports import build, report_on_plan
from common import emit, percentiles, reset_database, setup_django

BENCH = "instruments"
INSTRUMENTS = ("wellbeing", "coping", "worklife")
HEAVY = os.environ.get("BENCH_ITEMS") == "120"
CHOICES, YESNO, INTEGERS = (20, 10, 6) if HEAVY else (7, 3, 2)


def decimals_of(code: str) -> int:
    """Decimal items: 4 each when heavy, else 2 in the first instrument and 1 in the others
    (40 items in all)."""
    return 4 if HEAVY else (2 if code == INSTRUMENTS[0] else 1)


KEEP_OPEN = 20  # participants whose visits stay unanswered, for the timed writes
REQUESTS = 30
WARMUP = 3
SEED = 23


def definition(code: str) -> dict[str, Any]:
    """The items and one scale over the choices."""
    levels = [{"code": str(v), "label": {"en": f"Level {v}", "nb": f"Nivå {v}"}} for v in range(5)]

    def label(i: int, kind: str) -> dict[str, str]:
        return {"en": f"{kind} question {i}", "nb": f"{kind}spørsmål {i}"}

    items: list[dict[str, Any]] = []
    for i in range(1, CHOICES + 1):
        items.append(
            {
                "name": f"{code}_c{i}",
                "type": "choice",
                "label": label(i, "Choice"),
                "required": True,
                "choices": levels,
            }
        )
    for i in range(1, YESNO + 1):
        items.append({"name": f"{code}_y{i}", "type": "yesno", "label": label(i, "Yes/no")})
    for i in range(1, INTEGERS + 1):
        items.append(
            {
                "name": f"{code}_n{i}",
                "type": "integer",
                "label": label(i, "Number"),
                "min": "0",
                "max": "100",
            }
        )
    for i in range(1, decimals_of(code) + 1):
        items.append(
            {
                "name": f"{code}_d{i}",
                "type": "decimal",
                "label": label(i, "Decimal"),
                "min": "0",
                "max": "80",
                "decimals": 1,
                "unit": "h",
            }
        )
    scale = {
        "name": f"{code}_score",
        "label": {"en": f"{code} score", "nb": f"{code}-skår"},
        "items": [f"{code}_c{i}" for i in range(1, CHOICES + 1)],
        "decimals": 0,
    }
    return {"items": items, "scales": [scale], "missing_codes": []}


def answers(code: str, rng: random.Random, lift: int) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for i in range(1, CHOICES + 1):
        values[f"{code}_c{i}"] = str(min(4, max(0, rng.randint(0, 3) + (lift if i % 3 else 0))))
    for i in range(1, YESNO + 1):
        values[f"{code}_y{i}"] = rng.random() < 0.4
    for i in range(1, INTEGERS + 1):
        values[f"{code}_n{i}"] = rng.randint(0, 100)
    for i in range(1, decimals_of(code) + 1):
        values[f"{code}_d{i}"] = f"{rng.randint(0, 799) / 10:.1f}"
    return values


def add_instruments(trial: Any, user: Any) -> tuple[list[Any], int, set[int]]:
    """The three instruments at every visit and their answers; returns the instruments, the
    number of answer rows and the ids of the visits kept open."""
    from instruments import scoring
    from instruments.definition import clean_answers
    from instruments.models import Assessment
    from instruments.setup import services as setup
    from randomisation.models import Allocation
    from trial.models import Visit, VisitDefinition

    visit_definitions = list(VisitDefinition.objects.filter(trial=trial))
    instruments = []
    for code in INSTRUMENTS:
        instrument = setup.create_instrument(
            trial,
            code=code,
            name_en=f"{code.title()} scale",
            name_nb=f"{code.title()}-skala",
            definition=definition(code),
            actor=user,
        )
        setup.attach_instrument(instrument, visit_definitions, actor=user)
        instruments.append(instrument)
    arm_of = dict(
        Allocation.objects.filter(trial=trial).values_list("participant_id", "arm__is_control")
    )
    visits = list(
        Visit.objects.filter(participant__trial=trial, missed=False)
        .select_related("participant")
        .order_by("participant__study_id", "due_on")
    )
    open_people = {v.participant_id for v in visits[: KEEP_OPEN * 4]}
    kept = {v.pk for v in visits if v.participant_id in open_people}
    rng = random.Random(SEED)  # noqa: S311 - synthetic data
    rows, written = [], 0
    for instrument in instruments:
        version = instrument.current_version()
        parsed = version.parsed
        for visit in visits:
            if visit.pk in kept:
                continue
            lift = 0 if arm_of[visit.participant_id] else 1
            values = clean_answers(parsed, answers(instrument.code, rng, lift)).values
            rows.append(
                Assessment(
                    visit=visit,
                    instrument=instrument,
                    version=version,
                    assessed_on=visit.due_on,
                    values=values,
                    scores=scoring.derive_scores(parsed, values),
                )
            )
            if len(rows) >= 5_000:
                Assessment.objects.bulk_create(rows, batch_size=1_000)
                written += len(rows)
                rows = []
    Assessment.objects.bulk_create(rows, batch_size=1_000)
    written += len(rows)
    return instruments, written, kept


def form_post(code: str, rng: random.Random) -> dict[str, Any]:
    data: dict[str, Any] = {"instrument": code, f"{code}-assessed_on": ""}
    for name, value in answers(code, rng, 0).items():
        data[f"{code}-{name}"] = ("1" if value else "0") if isinstance(value, bool) else str(value)
    return data


def timed(run: Any, label: str, note: str) -> None:
    samples = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    stats = percentiles(samples)
    emit(BENCH, f"{label} p50", stats["p50"], "ms", note)
    emit(BENCH, f"{label} p95", stats["p95"], "ms", f"n={REQUESTS}, max {stats['max']:.1f} ms")


def main() -> None:
    setup_django()
    reset_database()
    trial, statistician, coordinator, kept, items = load()
    measure_entry(trial, coordinator, kept, items)
    report_on_plan(
        BENCH,
        "effect report on a score",
        trial,
        statistician,
        outcomes=("wellbeing_score", ["coping_y1", "worklife_n1", "worklife_score"]),
        model="ANCOVA adjusted for sex and age.",
        note=f"primary: a {CHOICES}-item scale score",
    )


def load() -> tuple[Any, Any, Any, set[int], int]:
    """The report benchmark's trial, a coordinator and the three instruments with their
    answers: the trial, its statistician and coordinator, the visits kept open, the items."""
    from django.contrib.auth import get_user_model

    from trial.models import Membership

    started = time.perf_counter()
    trial, statistician, _n = build()
    coordinator = get_user_model().objects.create_user(
        "bench-coordinator",
        password="not-used-123456",  # noqa: S106
    )
    Membership.objects.create(trial=trial, user=coordinator, role=Membership.Role.COORDINATOR)
    instruments, written, kept = add_instruments(trial, coordinator)
    items = sum(len(i.current_version().parsed.items) for i in instruments)
    emit(
        BENCH,
        "data load",
        time.perf_counter() - started,
        "s",
        f"10,000 participants; {written} answer rows; {items} items in 3 instruments at 4 visits",
    )
    return trial, statistician, coordinator, kept, items


def measure_entry(trial: Any, coordinator: Any, kept: set[int], items: int) -> None:
    """The data-entry page of an answered visit, and saving one instrument of an open one."""
    from django.test import Client

    from trial.models import Visit

    client = Client()
    client.force_login(coordinator)
    answered = (
        Visit.objects.filter(participant__trial=trial, missed=False)
        .exclude(pk__in=kept)
        .order_by("pk")
    )
    sample = list(answered.values_list("pk", flat=True)[:: max(1, answered.count() // 200)])
    rng = random.Random(SEED)  # noqa: S311 - synthetic data

    def get_page() -> None:
        url = f"/trials/{trial.code}/visits/{rng.choice(sample)}/assess/"
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"GET {url}: HTTP {response.status_code}")

    for _ in range(WARMUP):
        get_page()
    timed(get_page, "data-entry page", f"GET, 3 instruments, {items} items, answered visit")

    targets = [(pk, code) for pk in sorted(kept) for code in INSTRUMENTS]
    if len(targets) < REQUESTS + WARMUP:
        raise SystemExit("too few open visits for the timed writes")

    def post_one() -> None:
        pk, code = targets.pop()
        visit = Visit.objects.get(pk=pk)
        data = form_post(code, rng)
        data[f"{code}-assessed_on"] = visit.due_on.isoformat()
        response = client.post(f"/trials/{trial.code}/visits/{pk}/assess/", data)
        if response.status_code != 302:
            raise SystemExit(f"POST visit {pk} {code}: HTTP {response.status_code}")

    for _ in range(WARMUP):
        post_one()
    timed(post_one, "save one instrument", "POST of one instrument: checked, scored, audited")


if __name__ == "__main__":
    main()
