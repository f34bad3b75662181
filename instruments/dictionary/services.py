"""Importing a data dictionary: instruments created or revised from a file, all or nothing;
and the dictionary file downloaded, in the audit trail.

:func:`check_dictionary` reads a file (our format or REDCap's), checks it against the definition
rules and the trial, and says what an import would do, writing nothing; every fault is a row and
column of the file. :func:`import_dictionary` does it, through the defining services of
``instruments.setup.services`` (create, revise, attach, remove), in one transaction.
:func:`download_dictionary` gives the file to the page and the API alike and records who took it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils.translation import gettext as _

from instruments.definition import Definition, DefinitionError
from instruments.dictionary import csvio, redcap
from instruments.dictionary.files import (
    MAX_FILE_BYTES,
    OWN,
    REDCAP,
    ParsedFile,
    ParsedInstrument,
    Problem,
)
from instruments.models import Assessment, Instrument, InstrumentVersion, VisitInstrument
from instruments.rules import check_definition
from instruments.setup.services import (
    InstrumentError,
    attach_instrument,
    create_instrument,
    remove_instrument,
    revise_instrument,
)
from trial import audit
from trial.models import Trial

FORMATS = (OWN, REDCAP)


class Action:
    CREATED = "created"
    CHANGED = "changed"
    """Changed in place: the latest version has no answers yet."""
    NEW_VERSION = "new_version"
    """The latest version has answers: the change is a new version."""
    UNCHANGED = "unchanged"
    REMOVED = "removed"


class DictionaryError(InstrumentError):
    """A dictionary file that cannot be imported: ``problems`` lists every fault by row and
    column; ``warnings`` what would be left out (they do not block)."""

    def __init__(self, problems: list[Problem], warnings: Iterable[Problem] = ()) -> None:
        super().__init__(
            _("The dictionary file has faults: nothing was imported."),
            field="file",
            errors=[(str(p.row or ""), p.message) for p in problems],
        )
        self.problems = problems
        self.warnings = list(warnings)


@dataclass(frozen=True)
class Change:
    """What an import does to one instrument."""

    code: str
    name_en: str
    name_nb: str
    action: str
    version: int
    """The version the instrument is at afterwards (for a removal: the one removed)."""
    variables: int
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    visits: tuple[str, ...] | None = None
    """The visits it is asked at afterwards, when the import changes them."""
    row: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name_en": self.name_en,
            "name_nb": self.name_nb,
            "action": self.action,
            "version": self.version,
            "variables": self.variables,
            "added": list(self.added),
            "removed": list(self.removed),
            "changed": list(self.changed),
            "visits": None if self.visits is None else list(self.visits),
        }


@dataclass
class ImportResult:
    """What an import did (``applied``) or would do (a check)."""

    format: str
    changes: list[Change] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    applied: bool = False

    def by_action(self, action: str) -> list[Change]:
        return [c for c in self.changes if c.action == action]

    @property
    def writes(self) -> bool:
        return any(c.action != Action.UNCHANGED for c in self.changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "file_format": self.format,
            "applied": self.applied,
            "instruments": [c.to_json() for c in self.changes],
            "warnings": [w.to_json() for w in self.warnings],
        }


def _content(file: bytes | str | IO[bytes] | IO[str]) -> bytes | str:
    if isinstance(file, bytes | str):
        return file
    data = file.read(MAX_FILE_BYTES + 1)
    return data


def read_file(file: bytes | str | IO[bytes] | IO[str], *, format: str) -> ParsedFile:
    """The file read in ``format`` (``own`` or ``redcap``), with the faults of its rows."""
    data = _content(file)
    size = len(data.encode() if isinstance(data, str) else data)
    if format not in FORMATS:
        parsed = ParsedFile(format=format)
        parsed.error(None, "", _("Unknown format %(format)s.") % {"format": format})
        return parsed
    if size > MAX_FILE_BYTES:
        parsed = ParsedFile(format=format)
        parsed.error(
            None,
            "",
            _("The file is larger than %(mb)s MB.") % {"mb": MAX_FILE_BYTES // (1024 * 1024)},
        )
        return parsed
    return redcap.read_redcap(data) if format == REDCAP else csvio.read_dictionary(data)


@dataclass
class _Plan:
    result: ImportResult
    parsed: ParsedFile
    existing: dict[str, Instrument]
    removals: list[Instrument]


def _latest(trial: Trial) -> dict[str, Instrument]:
    """The trial's instruments by code, each with its latest version (one query)."""
    instruments: dict[str, Instrument] = {}
    for version in (
        InstrumentVersion.objects.filter(instrument__trial=trial)
        .select_related("instrument")
        .order_by("instrument__order", "instrument__code", "-number")
    ):
        instrument = version.instrument
        if instrument.code not in instruments:
            instrument.__dict__["latest"] = version
            instruments[instrument.code] = instrument
    return instruments


def _latest_of(instrument: Instrument) -> InstrumentVersion:
    version: InstrumentVersion = instrument.__dict__["latest"]
    return version


def _plan(trial: Trial, parsed: ParsedFile, *, replace: bool) -> _Plan:
    """Check the file against the definition rules and the trial; what the import would do.
    Raises DictionaryError listing every fault."""
    problems = list(parsed.errors)
    if not parsed.errors and not parsed.instruments:
        problems.append(Problem(None, "", _("The file has no items to import.")))
    existing = _latest(trial)
    in_file = {p.code for p in parsed.instruments}
    kept = [i for code, i in existing.items() if code not in in_file and not replace]
    removals = [i for code, i in existing.items() if code not in in_file and replace]
    covariates = set(trial.covariates.values_list("key", flat=True))
    definitions = _definitions(parsed, kept, covariates, problems)
    usage = _Usage.of(trial, existing)

    result = ImportResult(format=parsed.format, warnings=list(parsed.warnings))
    for instrument in removals:
        result.changes.append(_removal(instrument, usage, parsed, problems))
    result.warnings += _covariate_warnings(parsed, covariates)
    for item in parsed.instruments:
        change = _change(item, definitions.get(item.code), existing, usage, problems)
        if change is not None:
            result.changes.append(change)
    if problems:
        raise DictionaryError(_sorted(problems), result.warnings)
    return _Plan(result=result, parsed=parsed, existing=existing, removals=removals)


def _definitions(
    parsed: ParsedFile, kept: list[Instrument], covariates: set[str], problems: list[Problem]
) -> dict[str, Definition]:
    """Each instrument of the file as a definition, by code, for those that meet the definition
    rules; their faults, and variable names the trial uses elsewhere, go to ``problems``. A fault
    on a row the file's reading faulted already is not repeated."""
    held: dict[str, str] = {}
    for instrument in kept:
        for name in _latest_of(instrument).parsed.names:
            held[name] = instrument.code
    first_use: dict[str, tuple[int, str]] = {}
    faulty_rows = {p.row for p in problems}
    definitions: dict[str, Definition] = {}
    for item in parsed.instruments:
        rows = [
            *zip(item.item_rows, (i["name"] for i in item.items), strict=True),
            *zip(item.scale_rows, (s["name"] for s in item.scales), strict=True),
        ]
        for row, name in rows:
            message = _name_clash(name, item.code, held, covariates, first_use)
            first_use.setdefault(name, (row, item.code))
            if message:
                problems.append(Problem(row, parsed.variable_column, message))
        try:
            definition = Definition.from_json(item.definition())
            check_definition(definition)
        except DefinitionError as exc:
            for fault, message in exc.errors:
                row, name = item.where(fault)
                if row not in faulty_rows:
                    problems.append(Problem(row, parsed.column_of(name), message))
            continue
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            problems.append(Problem(item.first_row, parsed.instrument_column, str(exc)))
            continue
        definitions[item.code] = definition
    return definitions


def _name_clash(
    name: str,
    code: str,
    held: dict[str, str],
    covariates: set[str],
    first_use: dict[str, tuple[int, str]],
) -> str | None:
    """Why instrument ``code`` may not have a variable ``name``, if it may not: a kept
    instrument (``held``), a baseline covariate or another instrument of the file uses it."""
    if name in held:
        return _("The trial's instrument %(code)s has a variable named %(name)s.") % {
            "code": held[name],
            "name": name,
        }
    if name in covariates:
        return _("The trial has a baseline covariate named %(name)s.") % {"name": name}
    if name in first_use and first_use[name][1] != code:
        return _("Row %(row)s (instrument %(code)s) uses the name %(name)s already.") % {
            "row": first_use[name][0],
            "code": first_use[name][1],
            "name": name,
        }
    return None


@dataclass(frozen=True)
class _Usage:
    """Where the trial's instruments are asked and answered, read once for a plan."""

    visit_codes: dict[str, int]
    answered: dict[int, set[str]]
    """Instrument id: the codes of the visits with answers to it."""
    asked: dict[int, set[str]]
    """Instrument id: the codes of the visits it is attached to."""
    versions_answered: set[int]
    """The ids of the instruments' latest versions that have answers."""

    @classmethod
    def of(cls, trial: Trial, existing: dict[str, Instrument]) -> _Usage:
        answered: dict[int, set[str]] = {}
        for instrument_id, visit_code in (
            Assessment.objects.filter(instrument__trial=trial)
            .values_list("instrument_id", "visit__definition__code")
            .distinct()
        ):
            answered.setdefault(instrument_id, set()).add(visit_code)
        asked: dict[int, set[str]] = {}
        for instrument_id, visit_code in VisitInstrument.objects.filter(
            instrument__trial=trial
        ).values_list("instrument_id", "visit_definition__code"):
            asked.setdefault(instrument_id, set()).add(visit_code)
        versions_answered = set(
            Assessment.objects.filter(
                version__in=[_latest_of(i) for i in existing.values()]
            ).values_list("version_id", flat=True)
        )
        return cls(
            visit_codes=dict(trial.visit_definitions.values_list("code", "pk")),
            answered=answered,
            asked=asked,
            versions_answered=versions_answered,
        )


def _removal(
    instrument: Instrument, usage: _Usage, parsed: ParsedFile, problems: list[Problem]
) -> Change:
    """The removal of an instrument the file leaves out (refused, in ``problems``, when it has
    answers)."""
    if instrument.pk in usage.answered:
        problems.append(
            Problem(
                None,
                parsed.instrument_column,
                _(
                    "The trial's instrument %(code)s has answers, so it cannot be removed: "
                    "keep it in the file or import without replacing."
                )
                % {"code": instrument.code},
            )
        )
    latest = _latest_of(instrument)
    return Change(
        code=instrument.code,
        name_en=instrument.name_en,
        name_nb=instrument.name_nb,
        action=Action.REMOVED,
        version=latest.number,
        variables=len(latest.parsed.names),
        removed=tuple(latest.parsed.names),
    )


def _covariate_warnings(parsed: ParsedFile, covariates: set[str]) -> list[Problem]:
    """The file's covariate rows the trial lacks: an import does not create them."""
    return [
        Problem(
            row,
            parsed.variable_column,
            _(
                "Baseline covariates are set on the trial's setup page: %(name)s is not "
                "created by an import."
            )
            % {"name": name},
        )
        for row, name in parsed.covariates
        if name not in covariates
    ]


def _change(
    item: ParsedInstrument,
    definition: Definition | None,
    existing: dict[str, Instrument],
    usage: _Usage,
    problems: list[Problem],
) -> Change | None:
    """What the import does to the file's instrument ``item`` (None when its definition is at
    fault); visits the trial lacks, or that would drop answers, go to ``problems``."""
    visits = item.visits
    if visits is not None:
        unknown = [code for code in visits if code not in usage.visit_codes]
        if unknown:
            problems.append(
                Problem(
                    item.first_row,
                    "visits",
                    _("The trial has no visit %(codes)s.") % {"codes": ", ".join(unknown)},
                )
            )
    if definition is None:
        return None
    current = existing.get(item.code)
    if current is None:
        return Change(
            code=item.code,
            name_en=item.name_en,
            name_nb=item.name_nb,
            action=Action.CREATED,
            version=1,
            variables=len(definition.names),
            added=tuple(definition.names),
            visits=visits or None,
            row=item.first_row,
        )
    latest = _latest_of(current)
    old = _by_name(latest.parsed)
    new = _by_name(definition)
    names = (current.name_en, current.name_nb) if item.keep_names else (item.name_en, item.name_nb)
    new_visits = _new_visits(item, current, usage, problems)
    same = definition.to_json() == latest.definition
    if same and names == (current.name_en, current.name_nb) and new_visits is None:
        action = Action.UNCHANGED
    elif not same and latest.pk in usage.versions_answered:
        action = Action.NEW_VERSION
    else:
        action = Action.CHANGED
    return Change(
        code=item.code,
        name_en=names[0],
        name_nb=names[1],
        action=action,
        version=latest.number + 1 if action == Action.NEW_VERSION else latest.number,
        variables=len(definition.names),
        added=tuple(n for n in new if n not in old),
        removed=tuple(n for n in old if n not in new),
        changed=tuple(n for n in new if n in old and old[n] != new[n]),
        visits=new_visits,
        row=item.first_row,
    )


def _new_visits(
    item: ParsedInstrument, current: Instrument, usage: _Usage, problems: list[Problem]
) -> tuple[str, ...] | None:
    """The visits the file asks an existing instrument at, when they differ from today's; a
    visit with answers it would drop goes to ``problems``."""
    visits = item.visits
    was_asked = usage.asked.get(current.pk, set())
    if visits is None or set(visits) == was_asked:
        return None
    dropped = (was_asked - set(visits)) & usage.answered.get(current.pk, set())
    if dropped:
        problems.append(
            Problem(
                item.first_row,
                "visits",
                _("Answers exist at %(visits)s: the instrument stays asked there.")
                % {"visits": ", ".join(sorted(dropped))},
            )
        )
    return visits


def _by_name(definition: Definition) -> dict[str, dict[str, Any]]:
    """Each item's and scale's JSON by name."""
    found = {item.name: item.to_json() for item in definition.items}
    found.update((scale.name, scale.to_json()) for scale in definition.scales)
    return found


def _sorted(problems: list[Problem]) -> list[Problem]:
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: (p.row is not None, p.row or 0))


def check_dictionary(
    trial: Trial,
    file: bytes | str | IO[bytes] | IO[str],
    *,
    format: str,
    replace: bool = False,
) -> ImportResult:
    """What importing ``file`` would do to the trial's instruments, writing nothing.

    ``format``: ``own`` (docs/import-formats.md) or ``redcap``. ``replace``: the trial's
    instruments that are not in the file would be removed. Raises DictionaryError listing every
    fault by row and column. Safe to repeat."""
    return _plan(trial, read_file(file, format=format), replace=replace).result


def import_dictionary(
    trial: Trial,
    file: bytes | str | IO[bytes] | IO[str],
    *,
    format: str,
    actor: User | None,
    replace: bool = False,
) -> ImportResult:
    """Create the file's instruments, or revise those with the same code (a new version when
    the latest has answers), ask them at the visits the file names, and with ``replace`` remove
    the trial's other instruments. All or nothing, in one transaction, each step audited by its
    service and the import as a whole as ``instrument.dictionary_imported``.

    Raises DictionaryError listing every fault by row and column (nothing is written). Importing
    the same file again changes nothing."""
    data = _content(file)
    parsed = read_file(data, format=format)
    with transaction.atomic():
        Trial.objects.select_for_update().filter(pk=trial.pk).first()  # one import at a time
        plan = _plan(trial, parsed, replace=replace)
        try:
            _apply(trial, plan, actor=actor)
        except InstrumentError as exc:
            if isinstance(exc, DictionaryError):
                raise
            faults = [f"{where}: {message}" for where, message in exc.errors]
            raise DictionaryError(
                [Problem(None, parsed.instrument_column, "; ".join([exc.message, *faults]))],
                plan.result.warnings,
            ) from None
        raw = data.encode() if isinstance(data, str) else data
        audit.record(
            "instrument.dictionary_imported",
            trial,
            actor=actor,
            trial=trial,
            data={
                "format": format,
                "replace": replace,
                "sha256": hashlib.sha256(raw).hexdigest(),
                "instruments": [
                    {"code": c.code, "action": c.action, "version": c.version}
                    for c in plan.result.changes
                ],
                "warnings": len(plan.result.warnings),
            },
        )
    plan.result.applied = True
    return plan.result


def _apply(trial: Trial, plan: _Plan, *, actor: User | None) -> None:
    """Removals first (they free names), then the instruments in an order in which no variable
    name is held by two instruments at once (a variable may move between instruments)."""
    note = _("Imported from a data dictionary file.")
    for instrument in plan.removals:
        remove_instrument(instrument, actor=actor)
    held: dict[str, set[str]] = {
        code: set(_latest_of(i).parsed.names)
        for code, i in plan.existing.items()
        if i not in plan.removals
    }
    changes = {c.code: c for c in plan.result.changes}
    pending = [p for p in plan.parsed.instruments if changes[p.code].action != Action.UNCHANGED]
    while pending:
        ready = next((p for p in pending if not _blocked(p, held)), None)
        if ready is None:
            raise DictionaryError(
                [
                    Problem(
                        pending[0].first_row,
                        plan.parsed.variable_column,
                        _(
                            "Variables move between the instruments %(codes)s in a circle: "
                            "import the file in two steps."
                        )
                        % {"codes": ", ".join(p.code for p in pending)},
                    )
                ],
                plan.result.warnings,
            )
        pending.remove(ready)
        change = changes[ready.code]
        instrument = plan.existing.get(ready.code)
        if instrument is None:
            instrument = create_instrument(
                trial,
                code=ready.code,
                name_en=ready.name_en,
                name_nb=ready.name_nb,
                definition=ready.definition(),
                actor=actor,
                note=note,
            )
        else:
            revise_instrument(
                instrument,
                definition=ready.definition(),
                actor=actor,
                note=note,
                name_en=None if ready.keep_names else ready.name_en,
                name_nb=None if ready.keep_names else ready.name_nb,
            )
        held[ready.code] = set(Definition.from_json(ready.definition()).names)
        if change.visits is not None:
            wanted = list(trial.visit_definitions.filter(code__in=change.visits))
            attach_instrument(instrument, wanted, actor=actor)


def _blocked(item: ParsedInstrument, held: dict[str, set[str]]) -> bool:
    names = set(Definition.from_json(item.definition()).names)
    return any(names & others for code, others in held.items() if code != item.code)


@dataclass(frozen=True)
class DictionaryFile:
    name: str
    content: str


def download_dictionary(trial: Trial, *, actor: User, via: str) -> DictionaryFile:
    """The trial's data dictionary as our CSV file (docs/import-formats.md), with the download
    in the audit trail like every file that leaves the system: who, the trial, the format, the
    file's name, how many variables it has and ``via`` (``web`` or ``api``). The caller has
    checked the right to read the trial. Raises nothing; safe to repeat (each download is its
    own event)."""
    rows = csvio.dictionary_rows(trial)
    dictionary = DictionaryFile(name=f"{trial.code}-dictionary.csv", content=csvio.write_rows(rows))
    audit.record(
        "dictionary.downloaded",
        trial,
        actor=actor,
        trial=trial,
        data={"format": OWN, "file": dictionary.name, "variables": len(rows), "via": via},
    )
    return dictionary
