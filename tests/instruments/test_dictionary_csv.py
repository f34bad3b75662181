"""Our dictionary file: export, import into an empty trial, export again gives the same file;
faults are refused by row and column, and nothing is written unless the whole file is good."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from instruments.definition import Text
from instruments.dictionary import csvio
from instruments.dictionary.services import (
    Action,
    DictionaryError,
    check_dictionary,
    import_dictionary,
)
from instruments.models import Instrument
from instruments.setup.services import attach_instrument, create_instrument, default_instrument
from tests import factories
from tests.instruments.dictionaries import MOOD, answer, visits
from trial.models import AuditEvent, CovariateDefinition, Trial

pytestmark = pytest.mark.django_db

TRICKY: dict[str, Any] = {
    "items": [
        {
            "name": "feeling",
            "type": "choice",
            "label": {"en": "=SUM(A1) is not a formula", "nb": "'=SUM(A1) heller ikke"},
            "required": True,
            "choices": [
                {"code": "1", "label": {"en": "Good | fine, really", "nb": "Bra | fint"}},
                {"code": "2", "label": {"en": "Back\\slash, and -5", "nb": ""}},
                {"code": "3", "label": {"en": "@home", "nb": "@hjemme"}},
            ],
            "note": {"en": "Pick one", "nb": "Velg én"},
        },
        {
            "name": "days_off",
            "type": "integer",
            "label": {"en": "-Days off", "nb": ""},
            "min": "0",
            "max": "365",
            "unit": "days",
            "show_if": "[feeling] = '2' or [feeling] = '3'",
        },
        {
            "name": "weight",
            "type": "decimal",
            "label": {"en": "Weight", "nb": "Vekt"},
            "min": "30.5",
            "max": "250",
            "decimals": 1,
            "unit": "kg",
        },
        {
            "name": "sectors",
            "type": "multi",
            "label": {"en": "Sectors", "nb": "Sektorer"},
            "choices": [
                {"code": "public", "label": {"en": "Public", "nb": "Offentlig"}},
                {"code": "private", "label": {"en": "Private", "nb": "Privat"}},
                {"code": "x-3", "label": {"en": "Other", "nb": "Annet"}},
            ],
        },
        {
            "name": "postcode",
            "type": "text",
            "label": {"en": "Post code", "nb": "Postnummer"},
            "pattern": "\\d{4}",
            "max_length": 4,
            "show_if": "[sectors(public)] = '1'",
        },
        {"name": "started_on", "type": "date", "label": {"en": "Started", "nb": "Startet"}},
        {"name": "job", "type": "occupation", "label": {"en": "Job", "nb": "Yrke"}},
        {"name": "remarks", "type": "text", "label": {"en": "Remarks", "nb": "Merknader"}},
    ],
    "scales": [
        {
            "name": "feeling_score",
            "label": {"en": "Feeling score", "nb": "Følelsesskår"},
            "items": ["feeling", "days_off"],
            "method": "mean",
            "reverse": ["days_off"],
            "max_missing": 1,
            "multiplier": "4",
            "decimals": 1,
            "bands": [
                {"min": "0", "label": {"en": "Low", "nb": "Lav"}},
                {"min": "10.5", "label": {"en": "High | very", "nb": "Høy"}},
            ],
            "library": "who5",
        }
    ],
}


def with_covariates(trial: Trial) -> Trial:
    CovariateDefinition.objects.create(
        trial=trial, key="age", label="Age", kind="integer", min_value=16, max_value=67, order=1
    )
    CovariateDefinition.objects.create(
        trial=trial,
        key="sex",
        label="Sex",
        kind="choice",
        choices=[["female", "Female"], ["male", "Male"]],
        order=2,
    )
    return trial


def source_trial() -> Trial:
    trial = with_covariates(factories.make_trial())
    m0, m6, m12 = visits(trial)
    employment = default_instrument(trial)
    attach_instrument(employment, [m0, m6, m12], actor=None)
    mood = create_instrument(
        trial, code="mood", name_en="Mood", name_nb="Humør", definition=MOOD, actor=None
    )
    attach_instrument(mood, [m0, m12], actor=None)
    create_instrument(
        trial, code="tricky", name_en="Tricky", name_nb="", definition=TRICKY, actor=None
    )
    return trial


def target_trial() -> Trial:
    trial = with_covariates(factories.make_trial())
    visits(trial)
    return trial


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_export_import_export_gives_the_same_file() -> None:
    exported = csvio.write_dictionary(source_trial())
    target = target_trial()

    result = import_dictionary(target, exported.encode(), format="own", actor=None)

    assert [(c.code, c.action) for c in result.changes] == [
        ("employment", Action.CREATED),
        ("mood", Action.CREATED),
        ("tricky", Action.CREATED),
    ]
    assert result.warnings == []
    assert csvio.write_dictionary(target) == exported
    again = import_dictionary(target, exported, format="own", actor=None)
    assert {c.action for c in again.changes} == {Action.UNCHANGED}


def test_the_file_keeps_both_languages_and_is_safe_in_a_spreadsheet() -> None:
    exported = csvio.write_dictionary(source_trial())
    by_name = {row["variable"]: row for row in rows(exported)}

    assert exported.splitlines()[0] == ",".join(csvio.COLUMNS)
    health = by_name["self_rated_health"]
    assert (health["label_en"], health["label_nb"]) == (
        "Self-rated health (1 poor – 5 excellent)",
        "Egenvurdert helse (1 dårlig – 5 utmerket)",
    )
    assert health["choices_en"].startswith("1, 1 Poor | 2, 2 Fair")
    assert health["choices_nb"].startswith("1, 1 Dårlig | 2, 2 Nokså god")
    assert (health["kind"], health["visits"]) == ("ordinal", "m0, m6, m12")
    assert by_name["in_paid_work"]["missing_codes_nb"] == (
        "not_asked, Ikke spurt | refused, Vil ikke svare | dont_know, Vet ikke"
    )
    feeling = by_name["feeling"]
    assert feeling["label_en"] == "'=SUM(A1) is not a formula"
    assert feeling["label_nb"] == "''=SUM(A1) heller ikke"
    assert feeling["choices_en"] == "1, Good \\| fine, really | 2, Back\\\\slash, and -5 | 3, @home"
    assert feeling["choices_nb"] == "1, Bra \\| fint | 2, | 3, @hjemme"
    assert by_name["days_off"]["label_en"] == "'-Days off"
    score = by_name["feeling_score"]
    assert (score["type"], score["kind"], score["score_items"]) == (
        "score",
        "score",
        "feeling, days_off",
    )
    assert score["score_bands_en"] == "0, Low | 10.5, High \\| very"
    assert (by_name["age"]["instrument"], by_name["age"]["min"]) == ("baseline_covariates", "16")
    assert by_name["sex"]["choices_en"] == "female, Female | male, Male"


def test_imported_definitions_are_those_exported_in_both_languages() -> None:
    source = source_trial()
    target = target_trial()
    import_dictionary(target, csvio.write_dictionary(source), format="own", actor=None)

    for code in ("employment", "mood", "tricky"):
        before = Instrument.objects.get(trial=source, code=code)
        after = Instrument.objects.get(trial=target, code=code)
        assert after.current_version().definition == before.current_version().definition
        assert (after.name_en, after.name_nb) == (before.name_en, before.name_nb)
    mood = Instrument.objects.get(trial=target, code="mood")
    assert sorted(mood.visit_links.values_list("visit_definition__code", flat=True)) == [
        "m0",
        "m12",
    ]
    label = mood.current_version().parsed.items[0].label
    assert label == Text("Little interest", "Lite interesse")


HEADER = "variable,instrument,type,label_en,label_nb,choices_en,show_if,score_items\n"


def problems(text: str, trial: Trial | None = None) -> list[tuple[int | None, str]]:
    with pytest.raises(DictionaryError) as caught:
        check_dictionary(trial or factories.make_trial(), text, format="own")
    return [(p.row, p.column) for p in caught.value.problems]


def test_an_unknown_type_is_refused_at_its_row_and_column() -> None:
    text = HEADER + "a,form,yesno,A,,,,\nb,form,slider,B,,,,\n"
    with pytest.raises(DictionaryError) as caught:
        check_dictionary(factories.make_trial(), text, format="own")
    (problem,) = caught.value.problems
    assert (problem.row, problem.column) == (3, "type")
    assert "slider" in problem.message and "yesno" in problem.message


def test_broken_branching_is_refused_with_the_parsers_message() -> None:
    text = HEADER + (
        "a,form,yesno,A,,,,\nb,form,yesno,B,,,[a] = = '1',\nc,form,yesno,C,,,[z] = '1',\n"
    )
    with pytest.raises(DictionaryError) as caught:
        check_dictionary(factories.make_trial(), text, format="own")
    found = {(p.row, p.column): p.message for p in caught.value.problems}
    assert set(found) == {(3, "show_if"), (4, "show_if")}
    assert "cannot be read" in found[(3, "show_if")]
    assert "expected [item] or a value" in found[(3, "show_if")]
    assert "z" in found[(4, "show_if")]


def test_duplicate_names_are_refused_within_and_across_instruments() -> None:
    text = HEADER + (
        "a,one,yesno,A,,,,\n"
        "a,one,yesno,A again,,,,\n"
        "b,one,yesno,B,,,,\n"
        "b,two,yesno,B elsewhere,,,,\n"
    )
    found = problems(text)
    assert (3, "variable") in found
    assert (5, "variable") in found
    assert len(found) == 2


def test_a_name_taken_by_another_instrument_or_a_covariate_is_refused() -> None:
    trial = with_covariates(factories.make_trial())
    default_instrument(trial)
    text = HEADER + (
        "in_paid_work,form,yesno,Works,,,,\nage,form,integer,Age,,,,\nok,form,yesno,OK,,,,\n"
    )
    assert problems(text, trial) == [(2, "variable"), (3, "variable")]


def test_bad_choices_are_refused_at_the_choices_column() -> None:
    text = HEADER + (
        'a,form,choice,A,,"1 Yes | 2 No",,\n'
        'b,form,choice,B,,"1 a, Yes | 2, No",,\n'
        "c,form,choice,C,,,,\n"
        'd,form,choice,D,,"1, Yes | 1, No",,\n'
    )
    found = problems(text)
    assert found == [(2, "choices_en"), (3, "choices_en"), (4, "choices_en"), (5, "choices_en")]


def test_scores_and_columns_are_checked() -> None:
    text = "variable,instrument,type,label_en,score_items,unit,colour\na,form,integer,A,,,\n"
    assert problems(text) == [(1, "colour")]
    text = "variable,instrument,type,label_en,score_items,min\nt,form,score,T,a nope,\n"
    text = (
        "variable,instrument,type,label_en,score_items,min\na,form,integer,A,,x\n"
        + text.split("\n", 1)[1]
    )
    found = problems(text)
    assert (2, "min") in found
    assert (3, "score_items") in found


def test_a_redcap_file_in_our_format_is_pointed_to_the_redcap_format() -> None:
    text = "Variable / Field Name,Form Name,Field Type,Field Label\nage,demo,text,Age\n"
    with pytest.raises(DictionaryError) as caught:
        check_dictionary(factories.make_trial(), text, format="own")
    assert "REDCap" in caught.value.problems[0].message


def test_a_bad_row_means_nothing_is_created() -> None:
    trial = target_trial()
    exported = csvio.write_dictionary(source_trial())
    broken = exported.replace(",self_rated_health,", ",Self rated health,", 1)
    broken = exported.replace("\nself_rated_health,employment,", "\nSelf-rated,employment,", 1)
    assert broken != exported
    before = AuditEvent.objects.count()

    with pytest.raises(DictionaryError) as caught:
        import_dictionary(trial, broken, format="own", actor=None)

    assert [(p.column, p.message[:20]) for p in caught.value.problems] == [
        ("variable", "Use lower-case lette")
    ]
    assert not Instrument.objects.filter(trial=trial).exists()
    assert AuditEvent.objects.count() == before


def test_an_instrument_with_answers_gets_a_new_version_and_one_without_is_changed() -> None:
    trial = target_trial()
    m0 = trial.visit_definitions.get(code="m0")
    mood = create_instrument(
        trial, code="mood", name_en="Mood", name_nb="Humør", definition=MOOD, actor=None
    )
    other = create_instrument(
        trial,
        code="other",
        name_en="Other",
        name_nb="Annet",
        definition={"items": [{"name": "x", "type": "yesno", "label": {"en": "X"}}]},
        actor=None,
    )
    answer(mood, m0)
    text = csvio.write_dictionary(trial).replace("Little interest", "Little pleasure")
    text = text.replace(",X,", ",X changed,")

    result = import_dictionary(trial, text, format="own", actor=None)

    actions = {c.code: (c.action, c.version, c.changed) for c in result.changes}
    assert actions == {
        "mood": (Action.NEW_VERSION, 2, ("mood_1",)),
        "other": (Action.CHANGED, 1, ("x",)),
    }
    assert mood.versions.count() == 2
    assert other.versions.count() == 1
    assert other.current_version().parsed.items[0].label.en == "X changed"
    event = AuditEvent.objects.filter(action="instrument.dictionary_imported").get()
    assert event.data["instruments"] == [
        {"code": "mood", "action": "new_version", "version": 2},
        {"code": "other", "action": "changed", "version": 1},
    ]


def test_replacing_removes_other_instruments_but_never_one_with_answers() -> None:
    trial = target_trial()
    m0 = trial.visit_definitions.get(code="m0")
    mood = create_instrument(
        trial, code="mood", name_en="Mood", name_nb="Humør", definition=MOOD, actor=None
    )
    text = HEADER + "x,fresh,yesno,X,,,,\n"

    answer(mood, m0)
    with pytest.raises(DictionaryError) as caught:
        import_dictionary(trial, text, format="own", actor=None, replace=True)
    assert "mood" in caught.value.problems[0].message
    assert Instrument.objects.filter(trial=trial).count() == 1

    mood.assessments.all().delete()
    result = import_dictionary(trial, text, format="own", actor=None, replace=True)
    assert [(c.code, c.action) for c in result.changes] == [
        ("mood", Action.REMOVED),
        ("fresh", Action.CREATED),
    ]
    assert list(Instrument.objects.filter(trial=trial).values_list("code", flat=True)) == ["fresh"]


def test_a_variable_may_move_between_instruments() -> None:
    trial = target_trial()
    create_instrument(
        trial,
        code="one",
        name_en="One",
        name_nb="En",
        definition={
            "items": [
                {"name": "a", "type": "yesno", "label": {"en": "A"}},
                {"name": "b", "type": "yesno", "label": {"en": "B"}},
            ]
        },
        actor=None,
    )
    create_instrument(
        trial,
        code="two",
        name_en="Two",
        name_nb="To",
        definition={
            "items": [
                {"name": "c", "type": "yesno", "label": {"en": "C"}},
            ]
        },
        actor=None,
    )
    text = HEADER + "c,two,yesno,C,,,,\nb,two,yesno,B,,,,\na,one,yesno,A,,,,\n"

    import_dictionary(trial, text, format="own", actor=None)

    names = {
        i.code: i.current_version().parsed.names for i in Instrument.objects.filter(trial=trial)
    }
    assert names == {"one": ["a"], "two": ["c", "b"]}


def test_unknown_visits_and_baseline_covariates_are_reported() -> None:
    trial = target_trial()
    text = (
        "variable,instrument,type,label_en,visits\n"
        "x,form,yesno,X,m0 m99\n"
        "age,baseline_covariates,integer,Age,\n"
        "height,baseline_covariates,integer,Height,\n"
    )
    with pytest.raises(DictionaryError) as caught:
        check_dictionary(trial, text, format="own")
    assert [(p.row, p.column) for p in caught.value.problems] == [(2, "visits")]
    assert "m99" in caught.value.problems[0].message
    assert [(w.row, w.column) for w in caught.value.warnings] == [(4, "variable")]


def test_a_semicolon_separated_windows_file_is_read() -> None:
    text = "variable;instrument;type;label_en;label_nb\nsvar;skjema;yesno;Answer;Svar på spørsmål\n"
    result = import_dictionary(target_trial(), text.encode("cp1252"), format="own", actor=None)
    assert result.changes[0].code == "skjema"
    instrument = Instrument.objects.get(code="skjema")
    assert instrument.current_version().parsed.items[0].label.nb == "Svar på spørsmål"


def test_every_library_scale_survives_the_round_trip() -> None:
    from instruments.library import LIBRARY, add_to_definition

    source = factories.make_trial()
    for key in LIBRARY:
        create_instrument(
            source,
            code=key,
            name_en=key.upper(),
            name_nb=key.upper(),
            definition=add_to_definition({"items": []}, key),
            actor=None,
        )
    exported = csvio.write_dictionary(source)
    target = factories.make_trial()

    import_dictionary(target, exported, format="own", actor=None)

    assert csvio.write_dictionary(target) == exported
    for key in LIBRARY:
        before = Instrument.objects.get(trial=source, code=key).current_version().definition
        after = Instrument.objects.get(trial=target, code=key).current_version().definition
        assert after == before, key
