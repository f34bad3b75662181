"""The legacy trial bench_import.py imports: CSV files generated with a fixed seed.

The documented format (docs/import-formats.md): trial.csv, 2 arms, 6 sites of different sizes,
3 baseline covariates, 4 follow-up visits (m3, m6, m12, m24), participants (about 10 % with a
valid synthetic personal number, the rest pseudonymised), an allocation for each, an
assessments.csv row for each visit of each participant (each answering two instruments: the
built-in "Employment and benefits", 7 items, and a trial-defined "Wellbeing", 10 items of five
types with a scale, some answers given by label and some as missing-data codes) and about 2 %
withdrawals, dated after the last assessment. Not a benchmark itself (its name does not start
with ``bench_``, so bench/run.py does not run it).
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import io
import random
from dataclasses import dataclass, field
from typing import Any

START = dt.date(2021, 1, 4)
# (code, name, municipality number, region, relative size)
SITES = [
    ("OSL1", "NAV Grünerløkka", "0301", "Oslo", 1.6),
    ("BGO1", "NAV Bergenhus", "4601", "Vestland", 1.2),
    ("TRD1", "NAV Trondheim", "5001", "Trøndelag", 1.0),
    ("SVG1", "NAV Stavanger", "1103", "Rogaland", 0.9),
    ("KRS1", "NAV Kristiansand", "4204", "Agder", 0.7),
    ("TOS1", "NAV Tromsø", "5501", "Troms", 0.6),
]
VISITS = [
    ("m3", "3 months", 3),
    ("m6", "6 months", 6),
    ("m12", "12 months", 12),
    ("m24", "24 months", 24),
]
OCCUPATIONS = ["2512", "4110", "5120", "5223", "5321", "7411", "8322", "9112"]
BENEFITS = ["work_assessment_allowance", "social_assistance", "unemployment_benefit"]
SETUP_FILES = ("trial.csv", "arms.csv", "sites.csv", "covariates.csv", "visits.csv")
DATA_FILES = ("participants.csv", "allocations.csv", "assessments.csv", "withdrawals.csv")
EMPLOYMENT = [
    "in_paid_work",
    "hours_per_week",
    "monthly_earnings",
    "occupation_code",
    "on_benefits",
    "benefit_type",
    "self_rated_health",
]
MOOD = [
    ("0", "Not at all", "Ikke i det hele tatt"),
    ("1", "Several days", "Flere dager"),
    ("2", "More than half the days", "Mer enn halvparten av dagene"),
    ("3", "Nearly every day", "Nesten hver dag"),
]
SUPPORT = [
    ("nav", "NAV office", "NAV-kontor"),
    ("gp", "Doctor", "Lege"),
    ("school", "School", "Skole"),
    ("employer", "Employer", "Arbeidsgiver"),
]


def _text(en: str, nb: str) -> dict[str, str]:
    return {"en": en, "nb": nb}


def _choices(rows: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    return [{"code": code, "label": _text(en, nb)} for code, en, nb in rows]


# A trial-defined instrument of 10 items: yes/no, whole numbers (one behind a condition), five
# 0-3 choices scored as a sum, a decimal and a multiple choice; two missing-data codes.
WELLBEING: dict[str, Any] = {
    "items": [
        {
            "name": "wb_employed",
            "type": "yesno",
            "label": _text("Employed", "I arbeid"),
            "required": True,
        },
        {
            "name": "wb_days",
            "type": "integer",
            "label": _text("Days worked", "Dager i arbeid"),
            "min": "0",
            "max": "31",
            "show_if": "[wb_employed] = '1'",
        },
        *[
            {
                "name": f"wb_mood{i}",
                "type": "choice",
                "label": _text(f"Mood {i}", f"Humør {i}"),
                "choices": _choices(MOOD),
            }
            for i in range(1, 6)
        ],
        {
            "name": "wb_sleep",
            "type": "decimal",
            "label": _text("Hours of sleep", "Timer søvn"),
            "min": "0",
            "max": "24",
            "decimals": 1,
        },
        {
            "name": "wb_support",
            "type": "multi",
            "label": _text("Support", "Støtte"),
            "choices": _choices(SUPPORT),
        },
        {
            "name": "wb_pain",
            "type": "integer",
            "label": _text("Pain (0-10)", "Smerte (0-10)"),
            "min": "0",
            "max": "10",
        },
    ],
    "scales": [
        {
            "name": "wb_mood",
            "label": _text("Mood score", "Humørskår"),
            "items": [f"wb_mood{i}" for i in range(1, 6)],
            "max_missing": 1,
        },
    ],
    "missing_codes": [
        {"code": "refused", "label": _text("Refused to answer", "Vil ikke svare")},
        {"code": "dont_know", "label": _text("Don't know", "Vet ikke")},
    ],
}
WELLBEING_COLUMNS = [item["name"] for item in WELLBEING["items"]]


def wellbeing_answers(rng: random.Random) -> list[Any]:
    """One row's answers to the wellbeing items: codes, labels now and then (English or
    bokmål), a missing-data code in about 3 % of cells, blanks where an item is not asked."""
    employed = rng.random() < 0.4
    row: list[Any] = ["yes" if employed else "no", rng.randint(1, 22) if employed else ""]
    for _ in range(5):
        code, en, nb = rng.choice(MOOD)
        row.append(rng.choices([code, en, nb, "dont_know"], [80, 8, 8, 4])[0])
    row.append(rng.choice([6, 6.5, 7, 7.5, 8, "refused"]))
    row.append("|".join(code for code, _en, _nb in rng.sample(SUPPORT, rng.randint(0, 2))))
    row.append(rng.randint(0, 10))
    return row


@dataclass
class Legacy:
    """The generated files and what they hold."""

    files: dict[str, bytes]
    code: str
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
    rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data
    rows = Rows()
    for i in range(n):
        add_participant(rows, rng, i)
    files = {**setup_files(code, n), **data_files(rows)}
    return Legacy(
        files=files,
        code=code,
        participants=n,
        numbers=rows.numbers,
        allocations=len(rows.allocations),
        assessments=len(rows.assessments) * 2,  # two instruments a row
        withdrawals=len(rows.withdrawals),
        rows={name: data.count(b"\n") - 1 for name, data in files.items()},
    )


@dataclass
class Rows:
    """The data files' rows as they are generated."""

    people: list[list[Any]] = field(default_factory=list)
    allocations: list[list[Any]] = field(default_factory=list)
    assessments: list[list[Any]] = field(default_factory=list)
    withdrawals: list[list[Any]] = field(default_factory=list)
    numbers: int = 0


def add_participant(rows: Rows, rng: random.Random, i: int) -> None:
    """Participant ``i``: enrolment, allocation, an assessment at every visit, and now and then
    a withdrawal after the last one."""
    from tests.factories import personal_number

    site = rng.choices([site[0] for site in SITES], [site[4] for site in SITES])[0]
    study_id = f"{site}-{i + 1:05d}"
    enrolled = START + dt.timedelta(days=rng.randint(0, 729))
    consented = enrolled - dt.timedelta(days=rng.randint(0, 3))
    number = personal_number() if rng.random() < 0.10 else ""
    rows.numbers += bool(number)
    prior_work = rng.choice(["yes", "no", ""])
    age, sex = rng.randint(18, 67), rng.choice("fm")
    rows.people.append([study_id, site, number, enrolled, "v2", consented, age, sex, prior_work])
    randomised = enrolled + dt.timedelta(days=rng.randint(0, 7))
    reference = f"ENV-{i + 1}" if rng.random() < 0.8 else ""
    rows.allocations.append([study_id, rng.choice("AB"), randomised, reference])
    last = randomised
    for visit, _label, months in VISITS:
        last = add_assessment(rows, rng, study_id, visit, add_months(randomised, months), months)
    if rng.random() < 0.02:
        withdrawn = last + dt.timedelta(days=rng.randint(1, 90))
        scope = rng.choice(["no_contact", "no_data"])
        rows.withdrawals.append([study_id, withdrawn, scope, "No longer wishes to take part"])


def add_assessment(
    rows: Rows, rng: random.Random, study_id: str, visit: str, due: dt.date, months: int
) -> dt.date:
    """One visit's assessments.csv row; returns the day it was assessed."""
    # 95 % in the window (14 days before to 30 after), the rest up to 60 days late.
    late = rng.random() < 0.05
    assessed = due + dt.timedelta(days=rng.randint(31, 60) if late else rng.randint(-14, 30))
    in_work = rng.random() < 0.2 + 0.02 * months
    on_benefits = not in_work or rng.random() < 0.3
    rows.assessments.append(
        [
            study_id,
            visit,
            assessed,
            "yes" if in_work else "no",
            rng.choice([8, 15, 20, 30, 37.5]) if in_work else "",
            rng.randint(8, 45) * 1000 if in_work else "",
            rng.choice(OCCUPATIONS) if in_work else "",
            "yes" if on_benefits else "no",
            rng.choice(BENEFITS) if on_benefits else "",
            rng.randint(1, 5),
            *wellbeing_answers(rng),
        ]
    )
    return assessed


def setup_files(code: str, n: int) -> dict[str, bytes]:
    """trial.csv, arms.csv, sites.csv, covariates.csv and visits.csv."""
    return {
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
    }


def data_files(rows: Rows) -> dict[str, bytes]:
    """participants.csv, allocations.csv, assessments.csv and withdrawals.csv."""
    people_header = [
        "study_id",
        "site",
        "personal_number",
        "enrolled_on",
        "consent_version",
        "consent_date",
        "age",
        "sex",
        "prior_work",
    ]
    return {
        "participants.csv": to_csv(people_header, rows.people),
        "allocations.csv": to_csv(
            ["study_id", "arm", "randomised_on", "reference"], rows.allocations
        ),
        "assessments.csv": to_csv(
            ["study_id", "visit", "assessed_on", *EMPLOYMENT, *WELLBEING_COLUMNS], rows.assessments
        ),
        "withdrawals.csv": to_csv(
            ["study_id", "withdrawn_on", "scope", "reason"], rows.withdrawals
        ),
    }
