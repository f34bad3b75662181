"""Building blocks for the data dictionary tests: a small instrument definition (MOOD), visit
definitions and an answer to it, and REDCap data dictionary files (a realistic one with
errors at known rows, and the same file fixed)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from instruments.dictionary import redcap
from instruments.models import Assessment
from tests import factories
from trial.models import Trial, Visit, VisitDefinition

MOOD: dict[str, Any] = {
    "items": [
        {
            "name": "mood_1",
            "type": "choice",
            "label": {"en": "Little interest", "nb": "Lite interesse"},
            "choices": [
                {"code": "0", "label": {"en": "Not at all", "nb": "Ikke i det hele tatt"}},
                {"code": "1", "label": {"en": "Several days", "nb": "Flere dager"}},
                {"code": "2", "label": {"en": "Most days", "nb": "De fleste dager"}},
            ],
        },
        {
            "name": "mood_2",
            "type": "choice",
            "label": {"en": "Feeling down", "nb": "Nedfor"},
            "choices": [
                {"code": "0", "label": {"en": "Not at all", "nb": "Ikke i det hele tatt"}},
                {"code": "1", "label": {"en": "Several days", "nb": "Flere dager"}},
                {"code": "2", "label": {"en": "Most days", "nb": "De fleste dager"}},
            ],
        },
    ],
    "scales": [
        {
            "name": "mood_total",
            "label": {"en": "Mood", "nb": "Humør"},
            "items": ["mood_1", "mood_2"],
        }
    ],
    "missing_codes": [{"code": "refused", "label": {"en": "Refused", "nb": "Nektet"}}],
}


def visits(trial: Trial) -> list[VisitDefinition]:
    return [
        VisitDefinition.objects.create(trial=trial, code=code, label=code, offset_months=months)
        for code, months in (("m0", 0), ("m6", 6), ("m12", 12))
    ]


def answer(instrument: Any, definition: VisitDefinition) -> Assessment:
    trial = instrument.trial
    site = trial.sites.first() or factories.make_site(trial)
    participant = factories.make_participant(trial, site)
    day = dt.date(2025, 6, 1)
    visit = Visit.objects.create(
        participant=participant, definition=definition, due_on=day, window_start=day, window_end=day
    )
    return Assessment.objects.create(
        visit=visit,
        instrument=instrument,
        version=instrument.current_version(),
        assessed_on=day,
        values={"mood_1": 1},
    )


PHQ9 = "0, Not at all | 1, Several days | 2, More than half the days | 3, Nearly every day"
PHQ9_ITEMS = [
    "Little interest or pleasure in doing things",
    "Feeling down, depressed, or hopeless",
    "Trouble falling or staying asleep, or sleeping too much",
    "Feeling tired or having little energy",
    "Poor appetite or overeating",
    "Feeling bad about yourself",
    "Trouble concentrating on things",
    "Moving or speaking so slowly that other people could have noticed",
    "Thoughts that you would be better off dead",
]


def field(name: str, form: str, kind: str, label: str, **columns: str) -> dict[str, str]:
    row = dict.fromkeys(redcap.HEADERS, "")
    row.update({redcap.VARIABLE: name, redcap.FORM: form, redcap.TYPE: kind, redcap.LABEL: label})
    names = {
        "choices": redcap.CHOICES,
        "note": redcap.NOTE,
        "validation": redcap.VALIDATION,
        "low": redcap.MIN,
        "high": redcap.MAX,
        "identifier": redcap.IDENTIFIER,
        "branching": redcap.BRANCHING,
        "required": redcap.REQUIRED,
        "section": redcap.SECTION,
        "matrix": redcap.MATRIX_GROUP,
        "annotation": redcap.ANNOTATION,
    }
    row.update({names[key]: value for key, value in columns.items()})
    return row


# Rows as a spreadsheet numbers them: the header is row 1, record_id row 2.
DEMOGRAPHICS = [
    field("record_id", "demographics", "text", "Record ID"),  # 2
    field("full_name", "demographics", "text", "Name", identifier="y"),  # 3
    field("sex", "demographics", "dropdown", "Sex", choices="1, Female | 2, Male | 3, Other"),  # 4
    field(  # 5
        "visit_date",
        "demographics",
        "text",
        "Date of visit",
        validation="date_ymd",
        low="2020-01-01",
        high="2030-12-31",
    ),
    field(  # 6
        "age",
        "demographics",
        "text",
        "Age (years)",
        validation="integer",
        low="18",
        high="67",
        required="y",
    ),
    field("employed", "demographics", "yesno", "<b>Currently</b> employed?", required="y"),  # 7
    field(  # 8
        "hours",
        "demographics",
        "text",
        "Hours per week",
        validation="number_1dp",
        low="0",
        high="80",
        branching="[employed] = '1'",
        note="Average over the <i>last</i> month",
    ),
    field(  # 9
        "sector",
        "demographics",
        "checkbox",
        "Sector of work",
        choices="1, Public | 2, Private | 3, Voluntary &amp; other",
        branching="[employed] = '1'",
    ),
    field("intro", "demographics", "descriptive", "<p>Next: questions on health</p>"),  # 10
    field("bmi", "demographics", "calc", "BMI", choices="round([weight]/([height]^2),1)"),  # 11
    field("comments", "demographics", "notes", "Comments"),  # 12
]
PHQ9_FORM = [
    field(  # 13 .. 21
        f"phq9_{n}",
        "phq9",
        "radio",
        label,
        choices=PHQ9,
        required="y",
        matrix="phq9",
        section="Over the last 2 weeks, how often have you been bothered by:" if n == 1 else "",
    )
    for n, label in enumerate(PHQ9_ITEMS, start=1)
] + [
    field("phq9_total", "phq9", "calc", "Total", choices="sum([phq9_1],[phq9_2])"),  # 22
    field(  # 23
        "phq9_difficulty",
        "phq9",
        "radio",
        "How difficult have these problems made it?",
        choices="1, Not difficult at all | 2, Somewhat difficult | 3, Very difficult",
        branching="[baseline_arm_1][employed] = '1'",
    ),
]
ERROR_ROWS = {3, 11, 22}


def redcap_file(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=redcap.HEADERS, quoting=csv.QUOTE_NONNUMERIC)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def fixed() -> list[dict[str, str]]:
    """The realistic file with its errors taken out as a user would (the event prefix too)."""
    numbered = enumerate(DEMOGRAPHICS + PHQ9_FORM, start=2)
    rows = [row for number, row in numbered if number not in ERROR_ROWS]
    rows[-1] = {**rows[-1], redcap.BRANCHING: ""}
    return rows
