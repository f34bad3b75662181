"""REDCap data dictionaries: a realistic file becomes our instruments, every feature that
cannot be kept is reported by row and column, and a file with errors imports nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from instruments.definition import ItemType, Text
from instruments.dictionary import redcap
from instruments.dictionary.services import (
    Action,
    DictionaryError,
    check_dictionary,
    import_dictionary,
)
from instruments.models import Instrument
from tests import factories
from tests.instruments.dictionaries import (
    DEMOGRAPHICS,
    PHQ9_FORM,
    field,
    fixed,
    redcap_file,
)
from trial.models import AuditEvent, Trial

pytestmark = pytest.mark.django_db


def test_every_unsupported_feature_is_reported_by_row_and_column() -> None:
    with pytest.raises(DictionaryError) as caught:
        check_dictionary(
            factories.make_trial(), redcap_file(DEMOGRAPHICS + PHQ9_FORM), format="redcap"
        )

    errors = {(p.row, p.column): p.message for p in caught.value.problems}
    assert set(errors) == {
        (3, "Identifier?"),
        (11, "Field Type"),
        (22, "Field Type"),
        (23, "Branching Logic (Show field only if...)"),
    }
    assert "personal data" in errors[(3, "Identifier?")]
    assert errors[(11, "Field Type")] == (
        "Calculated fields are not supported; define a scale instead."
    )
    assert "event" in errors[(23, "Branching Logic (Show field only if...)")]
    warnings = {(p.row, p.column) for p in caught.value.warnings}
    assert warnings == {
        (2, "Variable / Field Name"),  # the record ID
        (5, "Text Validation Min"),  # a date range is not kept
        (10, "Field Type"),  # descriptive
        (13, "Section Header"),
        *((row, "Matrix Group Name") for row in range(13, 22)),
    }


def test_a_redcap_dictionary_becomes_instruments_in_both_languages() -> None:
    trial = factories.make_trial()

    result = import_dictionary(trial, redcap_file(fixed()).encode(), format="redcap", actor=None)

    assert [(c.code, c.action, c.variables) for c in result.changes] == [
        ("demographics", Action.CREATED, 7),
        ("phq9", Action.CREATED, 10),
    ]
    demographics = Instrument.objects.get(trial=trial, code="demographics")
    assert (demographics.name_en, demographics.name_nb) == ("Demographics", "Demographics")
    items = {i.name: i for i in demographics.current_version().parsed.items}
    assert list(items) == ["sex", "visit_date", "age", "employed", "hours", "sector", "comments"]
    sex = items["sex"]
    assert sex.type == ItemType.CHOICE
    assert [(c.code, c.label) for c in sex.choices] == [
        ("1", Text("Female", "Female")),
        ("2", Text("Male", "Male")),
        ("3", Text("Other", "Other")),
    ]
    assert items["visit_date"].type == ItemType.DATE
    age = items["age"]
    assert (age.type, age.minimum, age.maximum, age.required) == (
        ItemType.INTEGER,
        Decimal(18),
        Decimal(67),
        True,
    )
    assert items["employed"].type == ItemType.YESNO
    assert items["employed"].label == Text("Currently employed?", "Currently employed?")
    hours = items["hours"]
    assert (hours.type, hours.decimals, hours.maximum) == (ItemType.DECIMAL, 1, Decimal(80))
    assert hours.show_if == "[employed] = '1'"
    assert hours.note == Text("Average over the last month", "Average over the last month")
    sector = items["sector"]
    assert sector.type == ItemType.MULTI
    assert sector.choices[2].label.en == "Voluntary & other"
    assert (items["comments"].type, items["comments"].max_length) == (ItemType.TEXT, 4000)

    phq9 = Instrument.objects.get(trial=trial, code="phq9").current_version().parsed
    assert [i.name for i in phq9.items][:2] == ["phq9_1", "phq9_2"]
    assert all(i.type == ItemType.CHOICE and i.required for i in phq9.items[:9])
    assert [c.code for c in phq9.items[0].choices] == ["0", "1", "2", "3"]
    assert phq9.items[0].label.nb == "Little interest or pleasure in doing things"
    assert AuditEvent.objects.filter(action="instrument.dictionary_imported").count() == 1


def test_a_file_with_errors_creates_nothing() -> None:
    trial = factories.make_trial()
    with pytest.raises(DictionaryError):
        import_dictionary(trial, redcap_file(DEMOGRAPHICS + PHQ9_FORM), format="redcap", actor=None)
    assert not Instrument.objects.filter(trial=trial).exists()


def test_importing_again_keeps_the_names_given_since() -> None:
    trial = factories.make_trial()
    text = redcap_file(fixed())
    import_dictionary(trial, text, format="redcap", actor=None)
    Instrument.objects.filter(code="phq9").update(name_en="PHQ-9", name_nb="PHQ-9 (norsk)")

    again = import_dictionary(trial, text, format="redcap", actor=None)

    assert {c.action for c in again.changes} == {Action.UNCHANGED}
    assert Instrument.objects.get(code="phq9").name_nb == "PHQ-9 (norsk)"


def problems_of(
    rows: list[dict[str, str]], trial: Trial | None = None
) -> dict[tuple[int | None, str], str]:
    with pytest.raises(DictionaryError) as caught:
        check_dictionary(trial or factories.make_trial(), redcap_file(rows), format="redcap")
    return {(p.row, p.column): p.message for p in caught.value.problems}


def test_branching_the_parser_cannot_read_is_refused_with_its_message() -> None:
    rows = [
        field("record_id", "f", "text", "ID"),
        field("dob", "f", "text", "Born", validation="date_ymd"),
        field("adult", "f", "yesno", "Adult", branching="datediff([dob],'today','y') >= 18"),
        field("later", "f", "yesno", "Later", branching="[missing_field] = '1'"),
    ]
    found = problems_of(rows)
    assert set(found) == {(4, redcap.BRANCHING), (5, redcap.BRANCHING)}
    assert "cannot read the condition at character 1" in found[(4, redcap.BRANCHING)]
    assert "missing_field" in found[(5, redcap.BRANCHING)]


def test_unknown_types_validations_and_bad_choices_are_refused() -> None:
    rows = [
        field("record_id", "f", "text", "ID"),
        field("photo", "f", "file", "Photo"),
        field("q", "f", "sql", "Query", choices="select 1"),
        field("odd", "f", "matrix", "Odd"),
        field("n", "f", "text", "N", validation="number_9dp"),
        field("c", "f", "radio", "C", choices="Yes | No"),
        field("d", "f", "radio", "D", choices="1 one, One"),
        field("big", "f", "text", "Big", validation="integer", low="ten"),
        field("e", "f", "yesno", "E", required="maybe"),
        field("this_name_is_far_too_long_for_stata_exports", "f", "yesno", "Long"),
    ]
    found = problems_of(rows)
    assert set(found) == {
        (3, redcap.TYPE),
        (4, redcap.TYPE),
        (5, redcap.TYPE),
        (6, redcap.VALIDATION),
        (7, redcap.CHOICES),
        (8, redcap.CHOICES),
        (9, redcap.MIN),
        (10, redcap.REQUIRED),
        (11, redcap.VARIABLE),
    }
    assert "not a short code" in found[(8, redcap.CHOICES)]


def test_sliders_times_and_api_names_are_read() -> None:
    text = (
        "field_name,form_name,field_type,field_label,select_choices_or_calculations,"
        "text_validation_type_or_show_slider_number,text_validation_min,text_validation_max\n"
        "record_id,f,text,ID,,,,\n"
        "pain,f,slider,Pain,None | Some | Worst,number,,\n"
        "woke,f,text,Woke at,,time,,\n"
        "mail,f,text,E-mail,,email,,\n"
        "phone,f,text,Phone,,phone,,\n"
        "ok,f,truefalse,True?,,,,\n"
        'amount,f,text,Amount,,number_2dp_comma_decimal,"0,5","99,75"\n'
    )
    trial = factories.make_trial()
    result = import_dictionary(trial, text, format="redcap", actor=None)

    items = {i.name: i for i in Instrument.objects.get(code="f").current_version().parsed.items}
    pain = items["pain"]
    assert (pain.type, pain.minimum, pain.maximum) == (ItemType.INTEGER, Decimal(0), Decimal(100))
    assert pain.note.en == "None … Some … Worst"
    assert items["woke"].pattern and items["mail"].pattern
    assert items["phone"].type == ItemType.TEXT and not items["phone"].pattern
    assert items["ok"].type == ItemType.YESNO
    amount = items["amount"]
    assert (amount.decimals, amount.minimum) == (2, Decimal("0.5"))
    assert amount.maximum == Decimal("99.75")
    assert {(w.row, w.column) for w in result.warnings} == {
        (2, redcap.VARIABLE),
        (3, redcap.TYPE),
        (4, redcap.VALIDATION),
        (6, redcap.VALIDATION),
        (7, redcap.TYPE),
    }


def test_a_file_that_is_not_a_redcap_dictionary_is_refused_at_its_header() -> None:
    found = problems_of([])  # header only: no items
    assert found == {(None, ""): "The file has no items to import."}
    with pytest.raises(DictionaryError) as caught:
        check_dictionary(
            factories.make_trial(), "variable,instrument,type\nx,f,yesno\n", format="redcap"
        )
    assert {(p.row, p.column) for p in caught.value.problems} == {
        (1, "variable"),
        (1, "instrument"),
        (1, "type"),
        (1, redcap.VARIABLE),
        (1, redcap.FORM),
        (1, redcap.TYPE),
        (1, redcap.LABEL),
    }
