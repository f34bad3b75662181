"""The files of a trial import and their columns: names, types and defaults.

Each value is converted and checked by the model field it goes into (type, length, choices,
range), so the file format and the models cannot drift apart. The answers in assessments.csv
are read from the trial's instruments instead (``trialimport.items``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.utils.translation import gettext as _

from randomisation.models import Allocation
from trial import personal_numbers
from trial.models import (
    Arm,
    CovariateDefinition,
    Participant,
    Site,
    Trial,
    VisitDefinition,
    Withdrawal,
)

TRIAL = "trial.csv"
ARMS = "arms.csv"
SITES = "sites.csv"
COVARIATES = "covariates.csv"
VISITS = "visits.csv"
PARTICIPANTS = "participants.csv"
ALLOCATIONS = "allocations.csv"
ASSESSMENTS = "assessments.csv"
WITHDRAWALS = "withdrawals.csv"
# Files whose rows lock only their own visit or participant when applied.
PER_PARTICIPANT = frozenset({ASSESSMENTS, WITHDRAWALS})
FILES = (
    TRIAL,
    ARMS,
    SITES,
    COVARIATES,
    VISITS,
    PARTICIPANTS,
    ALLOCATIONS,
    ASSESSMENTS,
    WITHDRAWALS,
)
# What can be added to a trial that exists already (the browser import).
DATA_FILES = (PARTICIPANTS, ALLOCATIONS, ASSESSMENTS, WITHDRAWALS)

TRUE_WORDS = frozenset({"yes", "true", "1"})
FALSE_WORDS = frozenset({"no", "false", "0"})
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# The order in which a new trial reaches the status its trial.csv gives.
STATUS_PATH = {
    Trial.Status.SETUP: [],
    Trial.Status.RECRUITING: [Trial.Status.RECRUITING],
    Trial.Status.FOLLOW_UP: [Trial.Status.RECRUITING, Trial.Status.FOLLOW_UP],
    Trial.Status.CLOSED: [Trial.Status.RECRUITING, Trial.Status.CLOSED],
}


def file_order(name: str) -> int:
    return FILES.index(name) if name in FILES else -1


Parser = Callable[[str], Any]


def parse_date(raw: str) -> dt.date:
    if not ISO_DATE.fullmatch(raw):
        raise ValueError(_("Enter a date as YYYY-MM-DD."))
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ValueError(_("This date does not exist.")) from None


def parse_bool(raw: str) -> bool:
    word = raw.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(_("Enter yes or no (or true/false, 1/0)."))


def not_allowed(character: str) -> str:
    return _("Contains a character that is not allowed: %(character)s.") % {"character": character}


def parse_text(raw: str) -> str:
    return raw


def parse_choices(raw: str) -> list[list[str]]:
    """``value=label|value=label``; a value without a label is its own label."""
    pairs = []
    for item in raw.split("|"):
        value, _sep, label = item.partition("=")
        value, label = value.strip(), label.strip()
        if not value:
            raise ValueError(_("Write the options as value=label, separated by |."))
        pairs.append([value, label or value])
    return pairs


def model_field(model: type[models.Model], name: str) -> Parser:
    """Convert and validate with the model field itself (type, length, choices, range)."""
    found = model._meta.get_field(name)

    def parse(raw: str) -> Any:
        return found.clean(raw, None)  # type: ignore[union-attr]  # a concrete field

    return parse


@dataclass(frozen=True)
class Column:
    name: str
    parse: Parser
    required: bool = True
    """The column must be in the header."""
    blank: bool = False
    """The value may be empty; it then takes ``default``."""
    default: Any = None


def spec(*columns: Column) -> dict[str, Column]:
    return {column.name: column for column in columns}


def optional(name: str, parse: Parser, default: Any = None) -> Column:
    return Column(name, parse, required=False, blank=True, default=default)


SPECS: dict[str, dict[str, Column]] = {
    TRIAL: spec(
        Column("code", model_field(Trial, "code")),
        Column("title", model_field(Trial, "title")),
        optional("design", model_field(Trial, "design"), Trial.Design.INDIVIDUAL),
        optional("status", model_field(Trial, "status"), Trial.Status.SETUP),
        optional("target_size", model_field(Trial, "target_size"), 100),
        optional("registry_id", model_field(Trial, "registry_id"), ""),
        optional(
            "eligibility_check",
            model_field(Trial, "eligibility_check"),
            Trial.EligibilityCheck.REFUSE,
        ),
    ),
    ARMS: spec(
        Column("code", model_field(Arm, "code")),
        Column("name", model_field(Arm, "name")),
        optional("allocation_weight", model_field(Arm, "allocation_weight"), 1),
        optional("is_control", parse_bool, False),
        optional("description", parse_text, ""),
    ),
    SITES: spec(
        Column("code", model_field(Site, "code")),
        Column("name", model_field(Site, "name")),
        optional("municipality_number", model_field(Site, "municipality_number"), ""),
        optional("region", model_field(Site, "region"), ""),
    ),
    COVARIATES: spec(
        Column("key", model_field(CovariateDefinition, "key")),
        Column("label", model_field(CovariateDefinition, "label")),
        Column("kind", model_field(CovariateDefinition, "kind")),
        optional("choices", parse_choices, ()),
        optional("min_value", model_field(CovariateDefinition, "min_value")),
        optional("max_value", model_field(CovariateDefinition, "max_value")),
        optional("eligible_min", model_field(CovariateDefinition, "eligible_min")),
        optional("eligible_max", model_field(CovariateDefinition, "eligible_max")),
        optional("required", parse_bool, True),
        optional("order", model_field(CovariateDefinition, "order")),
    ),
    VISITS: spec(
        Column("code", model_field(VisitDefinition, "code")),
        Column("label", model_field(VisitDefinition, "label")),
        Column("offset_months", model_field(VisitDefinition, "offset_months")),
        optional("window_before_days", model_field(VisitDefinition, "window_before_days"), 14),
        optional("window_after_days", model_field(VisitDefinition, "window_after_days"), 30),
    ),
    PARTICIPANTS: spec(
        Column("study_id", parse_text),
        Column("site", parse_text),
        optional("personal_number", personal_numbers.validate_personal_number),
        Column("enrolled_on", parse_date),
        # Blank passes here so that the enrolment service gives its own reason.
        Column("consent_version", model_field(Participant, "consent_version"), blank=True),
        Column("consent_date", parse_date),
    ),
    ALLOCATIONS: spec(
        Column("study_id", parse_text),
        Column("arm", parse_text),
        Column("randomised_on", parse_date),
        optional("reference", model_field(Allocation, "reference"), ""),
    ),
    ASSESSMENTS: spec(
        Column("study_id", parse_text),
        Column("visit", parse_text),
        Column("assessed_on", parse_date),
        # Then one column per item of the instruments asked at the visits (``items``).
    ),
    WITHDRAWALS: spec(
        Column("study_id", parse_text),
        Column("withdrawn_on", parse_date),
        Column("scope", model_field(Withdrawal, "scope")),
        # Blank passes here so that the withdrawal service gives its own reason.
        Column("reason", model_field(Withdrawal, "reason"), blank=True),
    ),
}
# The column naming each row's subject, for duplicates and cross-file references.
KEYS = {
    TRIAL: "code",
    ARMS: "code",
    SITES: "code",
    COVARIATES: "key",
    VISITS: "code",
    PARTICIPANTS: "study_id",
    ALLOCATIONS: "study_id",
    WITHDRAWALS: "study_id",
}


def fresh(default: Any) -> Any:
    """A default safe to hand out: tuples stand for new, empty lists."""
    return list(default) if isinstance(default, tuple) else default
