"""A small library of validated scales a trial may add to an instrument.

Each entry holds the scale's items (English as published, with a bokmål *working translation*),
its scoring rule as :class:`instruments.definition.Scale` JSON (``library`` set to the entry's
key), its citation and its licence. Only scales whose licence lets a trial use them freely are
here; docs/instruments.md ("Scales in the library") gives each one's source, licence and what is
not verified, and says why EQ-5D is not shipped.

The Norwegian texts are working translations made for this library, not the validated Norwegian
versions: every entry's ``translation_note`` says so, and a trial must replace them with the
validated Norwegian wording before use.

Variable names start with the entry's key (``phq9_1`` … ``phq9_10``, score ``phq9``);
:func:`add_to_definition` appends an entry to an instrument's definition, renaming the variables
when a prefix is given (names are unique across a trial's instruments, so a scale used in two
instruments needs a second prefix).

Data, not code: nothing here touches the ORM. That is why the module is longer than the ~600
lines the others keep to: five scales' items in two languages, with citations and licences, are
four fifths of it; the code (``LibraryScale``, four small builders and :func:`add_to_definition`)
is about 130 lines. Each entry stays beside the builders it is written with, so it can be read
against its source in one place.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from instruments.definition import (
    DEFAULT_MISSING_CODES,
    NAME,
    NAME_MAX,
    Band,
    Choice,
    Definition,
    DefinitionError,
    Item,
    ItemType,
    Scale,
    ScaleMethod,
    Text,
    name_rule,
)

TRANSLATION_NOTE = Text(
    en=(
        "The Norwegian (bokmål) text is a working translation made for this library, not the "
        "validated Norwegian version: working translation — replace with the validated "
        "Norwegian version before use."
    ),
    nb=(
        "Den norske (bokmål) teksten er en arbeidsoversettelse laget for dette biblioteket, "
        "ikke den validerte norske versjonen: arbeidsoversettelse — erstatt med den validerte "
        "norske versjonen før bruk."
    ),
)


@dataclass(frozen=True)
class LibraryScale:
    """One library entry: items and scales as definition JSON, with where they come from.

    ``items`` are :meth:`Item.to_json` dicts and ``scales`` :meth:`Scale.to_json` dicts, their
    variable names all ``key`` or ``key_…``; ``missing_codes`` as in a definition's JSON."""

    key: str
    title: Text
    citation: str
    licence: str
    licence_url_or_source: str
    translation_note: Text
    items: tuple[dict[str, Any], ...]
    scales: tuple[dict[str, Any], ...]
    missing_codes: tuple[dict[str, Any], ...]

    def definition_json(self) -> dict[str, Any]:
        """The entry on its own as a definition (a copy: changing it changes nothing here)."""
        return copy.deepcopy(
            {
                "items": list(self.items),
                "scales": list(self.scales),
                "missing_codes": list(self.missing_codes),
            }
        )

    def definition(self) -> Definition:
        return Definition.from_json(self.definition_json())

    @property
    def names(self) -> list[str]:
        """Every variable the entry adds: its items, then its scores."""
        return [i["name"] for i in self.items] + [s["name"] for s in self.scales]


def _choices(rows: Sequence[tuple[int, str, str]]) -> tuple[Choice, ...]:
    return tuple(Choice(str(code), Text(en, nb)) for code, en, nb in rows)


def _items(
    key: str,
    texts: Sequence[tuple[str, str]],
    choices: tuple[Choice, ...],
    note: Text | None = None,
) -> list[dict[str, Any]]:
    return [
        Item(
            name=f"{key}_{number}",
            type=ItemType.CHOICE,
            label=Text(en, nb),
            choices=choices,
            note=note or Text(),
        ).to_json()
        for number, (en, nb) in enumerate(texts, start=1)
    ]


def _bands(rows: Sequence[tuple[str, str, str]]) -> tuple[Band, ...]:
    return tuple(Band(Decimal(minimum), Text(en, nb)) for minimum, en, nb in rows)


def _missing_codes() -> tuple[dict[str, Any], ...]:
    return tuple({"code": code, "label": label.to_json()} for code, label in DEFAULT_MISSING_CODES)


# ---------------------------------------------------------------------------------------------
# WHO-5 Well-Being Index

_WHO5_ANSWERS = _choices(
    [
        (5, "All of the time", "Hele tiden"),
        (4, "Most of the time", "Mesteparten av tiden"),
        (3, "More than half of the time", "Mer enn halvparten av tiden"),
        (2, "Less than half of the time", "Mindre enn halvparten av tiden"),
        (1, "Some of the time", "Noe av tiden"),
        (0, "At no time", "Ikke på noe tidspunkt"),
    ]
)
_WHO5_ITEMS = _items(
    "who5",
    [
        ("I have felt cheerful and in good spirits", "Jeg har vært glad og i godt humør"),
        ("I have felt calm and relaxed", "Jeg har følt meg rolig og avslappet"),
        ("I have felt active and vigorous", "Jeg har følt meg aktiv og full av energi"),
        ("I woke up feeling fresh and rested", "Jeg har våknet opp frisk og uthvilt"),
        (
            "My daily life has been filled with things that interest me",
            "Hverdagen min har vært fylt med ting som interesserer meg",
        ),
    ],
    _WHO5_ANSWERS,
    Text(
        "Please indicate for each of the five statements which is closest to how you have "
        "been feeling over the last two weeks.",
        "Velg for hvert av de fem utsagnene det svaret som ligger nærmest hvordan du har hatt "
        "det de siste to ukene.",
    ),
)
_WHO5_NAMES = tuple(i["name"] for i in _WHO5_ITEMS)

WHO5 = LibraryScale(
    key="who5",
    title=Text("WHO-5 Well-Being Index", "WHO-5 trivselsindeks"),
    citation=(
        "World Health Organization, Regional Office for Europe (1998). Wellbeing measures in "
        "primary health care: the DepCare project. Copenhagen: WHO. Topp CW, Østergaard SD, "
        "Søndergaard S, Bech P (2015). The WHO-5 Well-Being Index: a systematic review of the "
        "literature. Psychother Psychosom 84:167–176."
    ),
    licence=(
        "Free to use: no permission, fee or training needed. Altered wording must be marked "
        "as altered, and a new translation back-translated."
    ),
    licence_url_or_source=(
        "https://www.psykiatri-regionh.dk/who-5/who-5-questionnaires/Pages/default.aspx; "
        "https://mestring.no/forskning/standardiserte-sporreskjemaer/well-being-index-who-5/"
    ),
    translation_note=TRANSLATION_NOTE,
    items=tuple(_WHO5_ITEMS),
    scales=(
        Scale(
            name="who5_raw",
            label=Text("WHO-5 raw score (0–25)", "WHO-5 råskår (0–25)"),
            items=_WHO5_NAMES,
            bands=_bands(
                [
                    ("0", "Poor well-being (below 13)", "Dårlig trivsel (under 13)"),
                    (
                        "13",
                        "Not in the poor well-being range (13 or more)",
                        "Ikke i området for dårlig trivsel (13 eller mer)",
                    ),
                ]
            ),
            library="who5",
        ).to_json(),
        Scale(
            name="who5_pct",
            label=Text("WHO-5 percentage score (0–100)", "WHO-5 prosentskår (0–100)"),
            items=_WHO5_NAMES,
            multiplier=Decimal(4),
            bands=_bands(
                [
                    ("0", "Poor well-being (below 52 %)", "Dårlig trivsel (under 52 %)"),
                    (
                        "52",
                        "Not in the poor well-being range (52 % or more)",
                        "Ikke i området for dårlig trivsel (52 % eller mer)",
                    ),
                ]
            ),
            library="who5",
        ).to_json(),
    ),
    missing_codes=_missing_codes(),
)


# ---------------------------------------------------------------------------------------------
# PHQ-9 and GAD-7 (the same answers, 0–3)

_PHQ_ANSWERS = _choices(
    [
        (0, "Not at all", "Ikke i det hele tatt"),
        (1, "Several days", "Flere dager"),
        (2, "More than half the days", "Mer enn halvparten av dagene"),
        (3, "Nearly every day", "Nesten hver dag"),
    ]
)
_PHQ9_ITEMS = _items(
    "phq9",
    [
        (
            "Little interest or pleasure in doing things",
            "Lite interesse for eller glede av å gjøre ting",
        ),
        ("Feeling down, depressed, or hopeless", "Følt deg nedfor, deprimert eller håpløs"),
        (
            "Trouble falling or staying asleep, or sleeping too much",
            "Vansker med å sovne eller med å sove gjennom natten, eller sovet for mye",
        ),
        ("Feeling tired or having little energy", "Følt deg trett eller hatt lite energi"),
        ("Poor appetite or overeating", "Dårlig matlyst eller overspising"),
        (
            "Feeling bad about yourself — or that you are a failure or have let yourself or "
            "your family down",
            "Hatt en dårlig følelse om deg selv — eller følt at du er mislykket eller har "
            "sviktet deg selv eller familien din",
        ),
        (
            "Trouble concentrating on things, such as reading the newspaper or watching television",
            "Vansker med å konsentrere deg om ting, som å lese avisen eller se på TV",
        ),
        (
            "Moving or speaking so slowly that other people could have noticed? Or the "
            "opposite — being so fidgety or restless that you have been moving around a lot "
            "more than usual",
            "Beveget deg eller snakket så langsomt at andre kan ha lagt merke til det? Eller "
            "det motsatte — vært så urolig eller rastløs at du har beveget deg mye mer enn "
            "vanlig",
        ),
        (
            "Thoughts that you would be better off dead, or of hurting yourself in some way",
            "Tanker om at det ville vært bedre om du var død, eller om å skade deg selv på "
            "en eller annen måte",
        ),
    ],
    _PHQ_ANSWERS,
    Text(
        "Over the last 2 weeks, how often have you been bothered by any of the following problems?",
        "I løpet av de siste 2 ukene, hvor ofte har du vært plaget av noen av de følgende "
        "problemene?",
    ),
)
_PHQ9_SCORED = tuple(i["name"] for i in _PHQ9_ITEMS)
_PHQ9_DIFFICULTY = Item(
    name="phq9_10",
    type=ItemType.CHOICE,
    label=Text(
        "If you checked off any problems, how difficult have these problems made it for you "
        "to do your work, take care of things at home, or get along with other people?",
        "Hvis du har krysset av for noen av problemene: hvor vanskelig har disse problemene "
        "gjort det for deg å gjøre arbeidet ditt, ta deg av ting hjemme eller komme overens "
        "med andre mennesker?",
    ),
    choices=_choices(
        [
            (0, "Not difficult at all", "Ikke vanskelig i det hele tatt"),
            (1, "Somewhat difficult", "Litt vanskelig"),
            (2, "Very difficult", "Svært vanskelig"),
            (3, "Extremely difficult", "Ekstremt vanskelig"),
        ]
    ),
).to_json()

PHQ9 = LibraryScale(
    key="phq9",
    title=Text(
        "Patient Health Questionnaire, depression module (PHQ-9)",
        "Pasientens helsespørreskjema, depresjonsdelen (PHQ-9)",
    ),
    citation=(
        "Kroenke K, Spitzer RL, Williams JBW (2001). The PHQ-9: validity of a brief depression "
        "severity measure. J Gen Intern Med 16(9):606–613. Bands and accuracy: Kroenke K, "
        "Spitzer RL, Williams JBW, Löwe B (2010). The Patient Health Questionnaire Somatic, "
        "Anxiety, and Depressive Symptom Scales: a systematic review. Gen Hosp Psychiatry "
        "32:345–359."
    ),
    licence=(
        "Public domain: “no permission is required to reproduce, translate, display or "
        "distribute” (developed by Spitzer, Williams, Kroenke and colleagues with an "
        "educational grant from Pfizer Inc.)."
    ),
    licence_url_or_source=(
        "https://www.phqscreeners.com, as quoted in CamCOPS "
        "(ucam-department-of-psychiatry/camcops: docs/source/tasks/phq9.rst)"
    ),
    translation_note=TRANSLATION_NOTE,
    items=(*_PHQ9_ITEMS, _PHQ9_DIFFICULTY),
    scales=(
        Scale(
            name="phq9",
            label=Text("PHQ-9 total score (0–27)", "PHQ-9 totalskår (0–27)"),
            items=_PHQ9_SCORED,
            bands=_bands(
                [
                    ("0", "None or minimal (0–4)", "Ingen eller minimal (0–4)"),
                    ("5", "Mild (5–9)", "Mild (5–9)"),
                    ("10", "Moderate (10–14)", "Moderat (10–14)"),
                    ("15", "Moderately severe (15–19)", "Moderat alvorlig (15–19)"),
                    ("20", "Severe (20–27)", "Alvorlig (20–27)"),
                ]
            ),
            library="phq9",
        ).to_json(),
    ),
    missing_codes=_missing_codes(),
)

_GAD7_ITEMS = _items(
    "gad7",
    [
        ("Feeling nervous, anxious or on edge", "Følt deg nervøs, engstelig eller anspent"),
        (
            "Not being able to stop or control worrying",
            "Ikke klart å stoppe eller kontrollere bekymringene dine",
        ),
        (
            "Worrying too much about different things",
            "Bekymret deg for mye for forskjellige ting",
        ),
        ("Trouble relaxing", "Vansker med å slappe av"),
        (
            "Being so restless that it is hard to sit still",
            "Vært så rastløs at det har vært vanskelig å sitte stille",
        ),
        ("Becoming easily annoyed or irritable", "Blitt lett ergerlig eller irritabel"),
        (
            "Feeling afraid as if something awful might happen",
            "Følt deg redd, som om noe forferdelig kunne skje",
        ),
    ],
    _PHQ_ANSWERS,
    Text(
        "Over the last 2 weeks, how often have you been bothered by the following problems?",
        "I løpet av de siste 2 ukene, hvor ofte har du vært plaget av følgende problemer?",
    ),
)

GAD7 = LibraryScale(
    key="gad7",
    title=Text(
        "Generalized Anxiety Disorder scale (GAD-7)",
        "Skala for generalisert angstlidelse (GAD-7)",
    ),
    citation=(
        "Spitzer RL, Kroenke K, Williams JBW, Löwe B (2006). A brief measure for assessing "
        "generalized anxiety disorder: the GAD-7. Arch Intern Med 166(10):1092–1097."
    ),
    licence=PHQ9.licence,
    licence_url_or_source=(
        "https://www.phqscreeners.com, as quoted in CamCOPS "
        "(ucam-department-of-psychiatry/camcops: docs/source/tasks/gad7.rst)"
    ),
    translation_note=TRANSLATION_NOTE,
    items=tuple(_GAD7_ITEMS),
    scales=(
        Scale(
            name="gad7",
            label=Text("GAD-7 total score (0–21)", "GAD-7 totalskår (0–21)"),
            items=tuple(i["name"] for i in _GAD7_ITEMS),
            bands=_bands(
                [
                    ("0", "Minimal (0–4)", "Minimal (0–4)"),
                    ("5", "Mild (5–9)", "Mild (5–9)"),
                    ("10", "Moderate (10–14)", "Moderat (10–14)"),
                    ("15", "Severe (15–21)", "Alvorlig (15–21)"),
                ]
            ),
            library="gad7",
        ).to_json(),
    ),
    missing_codes=_missing_codes(),
)


# ---------------------------------------------------------------------------------------------
# General Self-Efficacy Scale

_GSE_ITEMS = _items(
    "gse",
    [
        (
            "I can always manage to solve difficult problems if I try hard enough.",
            "Jeg klarer alltid å løse vanskelige problemer hvis jeg prøver hardt nok.",
        ),
        (
            "If someone opposes me, I can find the means and ways to get what I want.",
            "Hvis noen motarbeider meg, kan jeg finne måter og midler til å få det som jeg vil.",
        ),
        (
            "It is easy for me to stick to my aims and accomplish my goals.",
            "Det er lett for meg å holde fast ved planene mine og nå målene mine.",
        ),
        (
            "I am confident that I could deal efficiently with unexpected events.",
            "Jeg er sikker på at jeg kan takle uventede hendelser på en god måte.",
        ),
        (
            "Thanks to my resourcefulness, I know how to handle unforeseen situations.",
            "Fordi jeg er ressurssterk, vet jeg hvordan jeg skal håndtere uforutsette situasjoner.",
        ),
        (
            "I can solve most problems if I invest the necessary effort.",
            "Jeg kan løse de fleste problemer hvis jeg legger inn den innsatsen som trengs.",
        ),
        (
            "I can remain calm when facing difficulties because I can rely on my coping abilities.",
            "Jeg kan holde meg rolig når jeg møter vansker, fordi jeg kan stole på at jeg "
            "mestrer dem.",
        ),
        (
            "When I am confronted with a problem, I can usually find several solutions.",
            "Når jeg står overfor et problem, finner jeg vanligvis flere løsninger.",
        ),
        (
            "If I am in trouble, I can usually think of a solution.",
            "Hvis jeg er i vanskeligheter, kommer jeg vanligvis på en løsning.",
        ),
        (
            "I can usually handle whatever comes my way.",
            "Jeg kan vanligvis håndtere det som måtte komme.",
        ),
    ],
    _choices(
        [
            (1, "Not at all true", "Stemmer ikke i det hele tatt"),
            (2, "Hardly true", "Stemmer nesten ikke"),
            (3, "Moderately true", "Stemmer nokså godt"),
            (4, "Exactly true", "Stemmer helt"),
        ]
    ),
)

GSE = LibraryScale(
    key="gse",
    title=Text("General Self-Efficacy Scale (GSE)", "Generell mestringstro-skala (GSE)"),
    citation=(
        "Schwarzer R, Jerusalem M (1995). Generalized Self-Efficacy scale. In: Weinman J, "
        "Wright S, Johnston M (eds), Measures in health psychology: a user's portfolio. "
        "Causal and control beliefs. Windsor, UK: NFER-NELSON, 35–37."
    ),
    licence=(
        "Free: no formal permission and no cost; cite the source. One listing words the "
        "permission as for non-commercial research and development, and allows the scale "
        "to be shortened or modified."
    ),
    licence_url_or_source=(
        "https://docobook.com/queue/general-self-efficacy-scale53864e1dd563b03c87c06cf2a62882b"
        "995935.html; https://softoutcomes.org/questionnaires/general-self-efficacy-scale/"
    ),
    translation_note=TRANSLATION_NOTE,
    items=tuple(_GSE_ITEMS),
    scales=(
        Scale(
            name="gse",
            label=Text("GSE total score (10–40)", "GSE totalskår (10–40)"),
            items=tuple(i["name"] for i in _GSE_ITEMS),
            library="gse",
        ).to_json(),
    ),
    missing_codes=_missing_codes(),
)


# ---------------------------------------------------------------------------------------------
# HSCL-5 / SCL-5

_HSCL5_ITEMS = _items(
    "hscl5",
    [
        ("Nervousness or shakiness inside", "Nervøsitet eller indre uro"),
        ("Feeling fearful", "Redd eller engstelig"),
        ("Feeling hopeless about the future", "Følelse av håpløshet med tanke på framtida"),
        ("Worrying too much about things", "Bekymrer deg for mye om ting"),
        ("Feeling blue", "Nedstemt eller trist"),
    ],
    _choices(
        [
            (1, "Not at all", "Ikke plaget"),
            (2, "A little", "Litt plaget"),
            (3, "Quite a bit", "Ganske mye plaget"),
            (4, "Extremely", "Veldig mye plaget"),
        ]
    ),
    # The recall period differs between surveys (1, 2 or 4 weeks): it lives here, in the
    # item note, so each instrument version says which one it asked.
    Text(
        "How much have you been bothered by the following during the last week?",
        "Hvor mye har du vært plaget av følgende den siste uka?",
    ),
)

HSCL5 = LibraryScale(
    key="hscl5",
    title=Text(
        "Hopkins Symptom Checklist, 5 items (HSCL-5 / SCL-5)",
        "Hopkins symptomsjekkliste, 5 spørsmål (HSCL-5 / SCL-5)",
    ),
    citation=(
        "Strand BH, Dalgard OS, Tambs K, Rognerud M (2003). Measuring the mental health status "
        "of the Norwegian population: a comparison of the instruments SCL-25, SCL-10, SCL-5 "
        "and MHI-5 (SF-36). Nord J Psychiatry 57(2):113–118. doi:10.1080/08039480310000932. "
        "Items from the HSCL-25: Derogatis LR, Lipman RS, Rickels K, Uhlenhuth EH, Covi L "
        "(1974). The Hopkins Symptom Checklist (HSCL): a self-report symptom inventory. "
        "Behav Sci 19(1):1–15."
    ),
    licence=(
        "Not verified: no licence statement was found for the HSCL-25 or its short forms. "
        "Nothing found forbids use, and Norwegian population surveys use it freely, but that "
        "is not a licence: confirm before use."
    ),
    licence_url_or_source="No licence source found (see docs/instruments.md).",
    translation_note=TRANSLATION_NOTE,
    items=tuple(_HSCL5_ITEMS),
    scales=(
        Scale(
            name="hscl5",
            label=Text("SCL-5 mean score (1–4)", "SCL-5 gjennomsnittsskår (1–4)"),
            items=tuple(i["name"] for i in _HSCL5_ITEMS),
            method=ScaleMethod.MEAN,
            bands=_bands(
                [
                    ("1", "Below the cut-off (mean under 2.0)", "Under grenseverdien (under 2,0)"),
                    (
                        "2",
                        "Psychological distress: at or above the cut-off (mean 2.0 or more)",
                        "Psykiske plager: på eller over grenseverdien (2,0 eller mer)",
                    ),
                ]
            ),
            library="hscl5",
        ).to_json(),
    ),
    missing_codes=_missing_codes(),
)


LIBRARY: dict[str, LibraryScale] = {s.key: s for s in (WHO5, PHQ9, GAD7, GSE, HSCL5)}
"""The library by key, in the order a page lists it."""


# ---------------------------------------------------------------------------------------------
# Adding an entry to a definition

_REF = re.compile(r"\[([a-z][a-z0-9_]*)(?=[(\]])")


def _rename(name: str, key: str, prefix: str) -> str:
    return prefix + name[len(key) :]


def _rename_condition(condition: str, renames: Mapping[str, str]) -> str:
    """A branching condition with its ``[name]`` and ``[name(option)]`` references renamed."""
    return _REF.sub(lambda m: "[" + renames.get(m.group(1), m.group(1)), condition)


def add_to_definition(
    definition_json: Mapping[str, Any], key: str, *, prefix: str | None = None
) -> dict[str, Any]:
    """A new definition JSON: ``definition_json`` with the library entry's items and scales
    appended, and its missing-data codes added where the definition lacks them.

    ``prefix`` replaces the entry's key at the start of every variable name
    (``prefix="phq9_m6"`` turns ``phq9_1`` into ``phq9_m6_1`` and the score ``phq9`` into
    ``phq9_m6``); the scales' item and reverse lists and any branching conditions follow.
    The input is not changed. The result is not checked: run ``check_definition`` on it (with
    the trial's other names as ``taken``) before storing it.

    Raises KeyError for a key not in :data:`LIBRARY` and DefinitionError (at ``prefix``) for a
    prefix that does not make valid variable names."""
    entry = LIBRARY[key]
    stem = key if prefix is None else prefix
    longest = max(len(name) - len(key) for name in entry.names)
    if not NAME.match(stem) or len(stem) + longest > NAME_MAX:
        raise DefinitionError([("prefix", name_rule())])
    renames = {name: _rename(name, key, stem) for name in entry.names}

    items = []
    for source in entry.items:
        item = copy.deepcopy(source)
        item["name"] = renames[item["name"]]
        if item.get("show_if"):
            item["show_if"] = _rename_condition(item["show_if"], renames)
        items.append(item)
    scales = []
    for source in entry.scales:
        scale = copy.deepcopy(source)
        scale["name"] = renames[scale["name"]]
        scale["items"] = [renames[name] for name in scale["items"]]
        if scale.get("reverse"):
            scale["reverse"] = [renames[name] for name in scale["reverse"]]
        scales.append(scale)

    result = copy.deepcopy(dict(definition_json))
    result["items"] = [*result.get("items", []), *items]
    result["scales"] = [*result.get("scales", []), *scales]
    codes = {str(m["code"]) for m in result.get("missing_codes", [])}
    added = [copy.deepcopy(m) for m in entry.missing_codes if m["code"] not in codes]
    if added or "missing_codes" in result:
        result["missing_codes"] = [*result.get("missing_codes", []), *added]
    return result
