"""REDCap's data-dictionary CSV read into our instrument definitions.

The 18 columns are those REDCap's "Download the current Data Dictionary" writes (the names of
its API metadata export are read too). Each form becomes an instrument with the form name as its
code. REDCap has one language: labels go into both English and Norwegian.

How each field type is read (docs/import-formats.md, "REDCap data dictionaries"):

* ``text``: by its validation type: ``integer`` a whole number, ``number`` and
  ``number_Ndp`` (also with ``_comma_decimal``) a decimal number (with N decimals), ``date_ymd``,
  ``date_dmy``, ``date_mdy`` a date; times, date-times, e-mail and letters-only become free text
  with a format check; other format checks (phone, postal codes …) are not kept (a warning);
  without a validation type, free text. Min and max become the range of numbers.
* ``notes``: free text (up to 4,000 characters).
* ``dropdown`` and ``radio``: single choice; ``checkbox``: multiple choice.
* ``yesno`` and ``truefalse``: yes / no (1 and 0, as in REDCap).
* ``slider``: a whole number from min to max (0 to 100 when not given); its labels go into the
  item's note.
* ``descriptive``: display text, skipped with a warning.
* ``calc``, ``file`` (signatures too) and ``sql``: refused.

REDCap's first field is the record ID: here the participant's study ID takes its place, so the
first row is skipped (with a warning) when it is a text field. A field marked as an identifier
(``Identifier? = y``) is refused: instruments hold pseudonymised answers, never personal data,
and the person importing must take it out of the file knowingly rather than have it dropped
without a decision. Branching logic is kept in REDCap's own syntax (``instruments.branching``
reads it); logic naming an event (``[baseline_arm_1][age]``) is refused, since a condition here
reads the answers of the same visit only.
"""

from __future__ import annotations

import html
import re
from decimal import Decimal

from django.utils.html import strip_tags
from django.utils.translation import gettext as _

from instruments.dictionary.files import (
    INSTRUMENT_CODE,
    REDCAP,
    ParsedFile,
    ParsedInstrument,
    decode,
    parse_pairs,
    read_table,
)

VARIABLE = "Variable / Field Name"
FORM = "Form Name"
SECTION = "Section Header"
TYPE = "Field Type"
LABEL = "Field Label"
CHOICES = "Choices, Calculations, OR Slider Labels"
NOTE = "Field Note"
VALIDATION = "Text Validation Type OR Show Slider Number"
MIN = "Text Validation Min"
MAX = "Text Validation Max"
IDENTIFIER = "Identifier?"
BRANCHING = "Branching Logic (Show field only if...)"
REQUIRED = "Required Field?"
ALIGNMENT = "Custom Alignment"
QUESTION_NUMBER = "Question Number (surveys only)"
MATRIX_GROUP = "Matrix Group Name"
MATRIX_RANKING = "Matrix Ranking?"
ANNOTATION = "Field Annotation"

HEADERS = (
    VARIABLE,
    FORM,
    SECTION,
    TYPE,
    LABEL,
    CHOICES,
    NOTE,
    VALIDATION,
    MIN,
    MAX,
    IDENTIFIER,
    BRANCHING,
    REQUIRED,
    ALIGNMENT,
    QUESTION_NUMBER,
    MATRIX_GROUP,
    MATRIX_RANKING,
    ANNOTATION,
)
"""REDCap's header row, in its order (reference: anchors-instruments-costs.md §1.1)."""
API_NAMES = dict(
    zip(
        (
            "field_name",
            "form_name",
            "section_header",
            "field_type",
            "field_label",
            "select_choices_or_calculations",
            "field_note",
            "text_validation_type_or_show_slider_number",
            "text_validation_min",
            "text_validation_max",
            "identifier",
            "branching_logic",
            "required_field",
            "custom_alignment",
            "question_number",
            "matrix_group_name",
            "matrix_ranking",
            "field_annotation",
        ),
        HEADERS,
        strict=True,
    )
)
REQUIRED_HEADERS = (VARIABLE, FORM, TYPE, LABEL)

# Where check_definition's faults are shown in REDCap's format.
REDCAP_FIELDS = {
    "name": VARIABLE,
    "label": LABEL,
    "choices": CHOICES,
    "min": MIN,
    "max": MAX,
    "decimals": VALIDATION,
    "pattern": VALIDATION,
    "show_if": BRANCHING,
    "missing_codes": FORM,
    "items": FORM,
}

NOTES_MAX_LENGTH = 4000
SLIDER_RANGE = ("0", "100")
EVENT_REFERENCE = re.compile(r"\[[^\[\]]+\]\s*\[")
DECIMALS = re.compile(r"^number_(\d)dp(?:_comma_decimal)?$")
TIME_PATTERNS = {
    "time": r"(?:[01]\d|2[0-3]):[0-5]\d",
    "time_hh_mm_ss": r"(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d",
    "time_mm_ss": r"[0-5]\d:[0-5]\d",
}
_DAY = r"\d{4}-\d{2}-\d{2}"
DATETIME_PATTERNS = {
    "datetime": rf"{_DAY} (?:[01]\d|2[0-3]):[0-5]\d",
    "datetime_seconds": rf"{_DAY} (?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d",
}
TEXT_PATTERNS = {
    "email": r"[^@\s]+@[^@\s]+\.[^@\s]+",
    "alpha_only": r"[^\W\d_]+",
}
PLAIN_TEXT_CHECKS = frozenset(
    {
        "phone",
        "phone_australia",
        "zipcode",
        "postalcode_australia",
        "postalcode_canada",
        "postalcode_french",
        "postalcode_germany",
        "ssn",
        "mrn_10d",
        "mrn_generic",
        "vmrn",
    }
)
_YES = {"y", "yes", "1"}
_NO = {"", "n", "no", "0"}


def looks_like_redcap(header: list[str]) -> bool:
    names = {API_NAMES.get(name, name) for name in header}
    return VARIABLE in names and FORM in names


def plain_label(text: str) -> str:
    """A REDCap label as plain text: HTML tags taken out, entities read, spaces collapsed."""
    text = re.sub(r"<\s*br\s*/?\s*>", " ", text, flags=re.IGNORECASE)
    return " ".join(html.unescape(strip_tags(text)).split())


def instrument_name(form: str) -> str:
    """A form name as people read it: ``baseline_data`` -> ``Baseline data``."""
    return form.replace("_", " ").strip().capitalize() or form


def read_redcap(data: bytes | str) -> ParsedFile:
    """REDCap's data dictionary read into one definition per form (not yet checked against
    the definition rules or the trial: ``instruments.dictionary.services`` does that). Every
    feature that cannot be kept is a problem of its row and column."""
    parsed = ParsedFile(
        format=REDCAP,
        fields=dict(REDCAP_FIELDS),
        variable_column=VARIABLE,
        instrument_column=FORM,
    )
    header, rows = read_table(decode(data), parsed)
    if not header:
        return parsed
    header = [API_NAMES.get(name, name) for name in header]
    for index, name in enumerate(header):
        if name not in HEADERS:
            parsed.error(1, name, _("Unknown column: REDCap's data dictionary has no such column."))
        elif header.index(name) != index:
            parsed.error(1, name, _("The column appears twice."))
    for name in REQUIRED_HEADERS:
        if name not in header:
            parsed.error(1, name, _("The column is missing."))
    if parsed.errors:
        return parsed

    by_form: dict[str, ParsedInstrument] = {}
    for position, (number, cells) in enumerate(rows):
        row = {name: value.strip() for name, value in zip(header, cells, strict=True)}
        kind = row[TYPE].lower()
        if position == 0 and kind == "text":
            parsed.warn(
                number,
                VARIABLE,
                _(
                    "%(name)s is REDCap's record ID: here the participant's study ID takes its "
                    "place, so it is not imported."
                )
                % {"name": row[VARIABLE]},
            )
            continue
        form = row[FORM]
        if not INSTRUMENT_CODE.match(form):
            parsed.error(
                number, FORM, _("Give the form name: letters, digits, - and _ (at most 40).")
            )
            continue
        instrument = by_form.get(form)
        if instrument is None:
            name = instrument_name(form)
            instrument = ParsedInstrument(
                code=form, name_en=name, name_nb=name, first_row=number, keep_names=True
            )
            by_form[form] = instrument
            parsed.instruments.append(instrument)
        _field(parsed, instrument, number, row, kind)
    return parsed


def _flag(parsed: ParsedFile, number: int, row: dict[str, str], column: str) -> bool:
    value = row.get(column, "").lower()
    if value not in _YES | _NO:
        parsed.error(number, column, _("Write y or leave it empty."))
    return value in _YES


def _presentation(parsed: ParsedFile, number: int, row: dict[str, str]) -> None:
    """Warnings for what only changes how REDCap shows a field."""
    notes = {
        SECTION: _("Section headers are not kept."),
        ALIGNMENT: _("Custom alignment is not kept."),
        QUESTION_NUMBER: _("Question numbers are not kept."),
        MATRIX_GROUP: _("Matrix groups are not kept: the item is asked on its own."),
        ANNOTATION: _("Field annotations and action tags (@HIDDEN …) are not applied."),
    }
    for column, message in notes.items():
        if row.get(column):
            parsed.warn(number, column, message)
    if _flag(parsed, number, row, MATRIX_RANKING):
        parsed.warn(number, MATRIX_RANKING, _("Matrix ranking is not kept."))


def _number(parsed: ParsedFile, number: int, column: str, text: str) -> str | None:
    if not text:
        return None
    try:
        value = Decimal(text.replace(",", "."))
    except ArithmeticError:
        value = Decimal("NaN")
    if not value.is_finite():
        parsed.error(number, column, _("Enter a number."))
        return None
    return format(value.normalize(), "f")


def _field(
    parsed: ParsedFile,
    instrument: ParsedInstrument,
    number: int,
    row: dict[str, str],
    kind: str,
) -> None:
    if _refused(parsed, number, row, kind):
        return
    _presentation(parsed, number, row)
    branching = _branching(parsed, number, row)
    item: dict[str, object] = {
        "name": row[VARIABLE],
        "label": {"en": plain_label(row[LABEL]), "nb": plain_label(row[LABEL])},
        "required": _flag(parsed, number, row, REQUIRED),
        "show_if": branching,
    }
    note = _typed(parsed, number, row, kind, item, plain_label(row.get(NOTE, "")))
    if note is None:
        return
    if note:
        item["note"] = {"en": note, "nb": note}
    instrument.items.append(item)
    instrument.item_rows.append(number)


def _refused(parsed: ParsedFile, number: int, row: dict[str, str], kind: str) -> bool:
    """Whether the field is left out: display text (a warning), a type instruments cannot
    hold or an identifier (errors)."""
    if kind == "descriptive":
        parsed.warn(number, TYPE, _("A descriptive field only shows text: it is skipped."))
        return True
    if kind == "calc":
        parsed.error(
            number, TYPE, _("Calculated fields are not supported; define a scale instead.")
        )
        return True
    if kind in {"file", "sql"}:
        parsed.error(
            number,
            TYPE,
            _(
                "Field type %(type)s is not supported: instruments hold answers, not files "
                "or queries."
            )
            % {"type": kind},
        )
        return True
    if _flag(parsed, number, row, IDENTIFIER):
        parsed.error(
            number,
            IDENTIFIER,
            _(
                "An identifier is personal data, which instruments do not hold: take %(name)s "
                "out of the file (participants are known by their study ID)."
            )
            % {"name": row[VARIABLE]},
        )
        return True
    return False


def _branching(parsed: ParsedFile, number: int, row: dict[str, str]) -> str:
    """The field's branching logic, refused (and left out) when it names an event."""
    branching = row.get(BRANCHING, "")
    if EVENT_REFERENCE.search(branching):
        parsed.error(
            number,
            BRANCHING,
            _(
                "Branching logic naming an event ([event][field]) is not supported: a condition "
                "reads the answers of the same visit."
            ),
        )
        return ""
    return branching


def _typed(
    parsed: ParsedFile,
    number: int,
    row: dict[str, str],
    kind: str,
    item: dict[str, object],
    note: str,
) -> str | None:
    """The item's type and what goes with it, by REDCap's field type; the item's note (a
    slider's labels are added to it), or None for a field type REDCap does not have."""
    validation = row.get(VALIDATION, "").lower()
    choices_text = row.get(CHOICES, "")
    if kind in {"dropdown", "radio", "checkbox"}:
        item["type"] = "multi" if kind == "checkbox" else "choice"
        try:
            item["choices"] = [
                {"code": code, "label": {"en": plain_label(label), "nb": plain_label(label)}}
                for code, label in parse_pairs(choices_text)
            ]
        except ValueError as exc:
            parsed.error(number, CHOICES, str(exc))
            item["choices"] = []
        _unused(parsed, number, row, (VALIDATION, MIN, MAX))
    elif kind in {"yesno", "truefalse"}:
        item["type"] = "yesno"
        if kind == "truefalse":
            parsed.warn(
                number, TYPE, _("True / false is asked as yes / no (1 and 0 as in REDCap).")
            )
        _unused(parsed, number, row, (CHOICES, VALIDATION, MIN, MAX))
    elif kind == "slider":
        item["type"] = "integer"
        item["min"] = _number(parsed, number, MIN, row.get(MIN, "") or SLIDER_RANGE[0])
        item["max"] = _number(parsed, number, MAX, row.get(MAX, "") or SLIDER_RANGE[1])
        labels = [plain_label(part) for part in choices_text.split("|") if part.strip()]
        if labels:
            note = " – ".join(part for part in (note, " … ".join(labels)) if part)
        parsed.warn(
            number,
            TYPE,
            _("A slider is asked as a whole number from its minimum to its maximum."),
        )
    elif kind == "notes":
        item["type"] = "text"
        item["max_length"] = NOTES_MAX_LENGTH
        _unused(parsed, number, row, (CHOICES, VALIDATION, MIN, MAX))
    elif kind == "text":
        _text(parsed, number, row, item, validation)
        _unused(parsed, number, row, (CHOICES,))
    else:
        parsed.error(
            number,
            TYPE,
            _("Unknown field type %(type)s.") % {"type": row[TYPE] or "–"},
        )
        return None
    return note


def _unused(parsed: ParsedFile, number: int, row: dict[str, str], columns: tuple[str, ...]) -> None:
    for column in columns:
        if row.get(column):
            parsed.warn(number, column, _("Not used by this field type: left out."))


def _text(
    parsed: ParsedFile, number: int, row: dict[str, str], item: dict[str, object], validation: str
) -> None:
    """A text field by its validation type."""
    low, high = row.get(MIN, ""), row.get(MAX, "")
    validation = {"int": "integer", "float": "number", "date": "date_ymd"}.get(
        validation, validation
    )
    numeric = False
    item["type"] = "text"
    if validation == "integer":
        item["type"], numeric = "integer", True
    elif validation.startswith("number"):
        decimals = DECIMALS.match(validation)
        if validation not in {"number", "number_comma_decimal"} and decimals is None:
            parsed.error(
                number, VALIDATION, _("Unknown validation type %(type)s.") % {"type": validation}
            )
            return
        item["type"], numeric = "decimal", True
        if decimals is not None:
            item["decimals"] = int(decimals.group(1))
    elif validation in {"date_ymd", "date_dmy", "date_mdy"}:
        item["type"] = "date"
    elif validation.startswith("datetime"):
        stem = "datetime_seconds" if validation.startswith("datetime_seconds") else "datetime"
        item["pattern"] = DATETIME_PATTERNS[stem]
        parsed.warn(
            number,
            VALIDATION,
            _("Date and time is kept as text written YYYY-MM-DD HH:MM, as REDCap exports it."),
        )
    elif validation in TIME_PATTERNS:
        item["pattern"] = TIME_PATTERNS[validation]
        parsed.warn(number, VALIDATION, _("A time is kept as text with a format check."))
    elif validation in TEXT_PATTERNS:
        item["pattern"] = TEXT_PATTERNS[validation]
    elif validation in PLAIN_TEXT_CHECKS:
        parsed.warn(
            number,
            VALIDATION,
            _("The format check %(type)s is not kept: the answer is free text.")
            % {"type": validation},
        )
    elif validation:
        parsed.error(
            number, VALIDATION, _("Unknown validation type %(type)s.") % {"type": validation}
        )
        return
    if numeric:
        item["min"] = _number(parsed, number, MIN, low)
        item["max"] = _number(parsed, number, MAX, high)
    elif low or high:
        parsed.warn(
            number,
            MIN if low else MAX,
            _("Only numbers keep a minimum and maximum: the range is left out."),
        )
