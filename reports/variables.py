"""The trial's data dictionary as the reports use it: which variables a plan may name, their
labels and value labels, and the keys of baseline values.

The dictionary itself (``variables(trial) -> list[Variable]``) belongs to the instruments app;
this is the one place the reports import it from.

Keys: an outcome is a variable's name (``phq9_total``); the baseline value of a variable, as a
covariate or subgroup, is ``<name>@baseline`` (``phq9_total@baseline``): its value at the
trial's visit 0 months from randomisation. The analysis data use the same key as the column
name, so the plan, the models and the tables agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from instruments.definition import Text

# The one import of the dictionary.
from instruments.dictionary import variables as _dictionary
from instruments.dictionary.variables import Indicator as Indicator
from instruments.dictionary.variables import Variable as Variable
from trial.models import Trial

BASELINE = "@baseline"


def variables(trial: Trial) -> list[Variable]:
    """The trial's instrument variables (items and scores). Baseline covariates, which the
    dictionary lists too, reach the plan through ``trial.covariates`` as before."""
    return [v for v in _dictionary.variables(trial) if not v.is_covariate]


BINARY, CONTINUOUS, COUNT, ORDINAL, SCORE = "binary", "continuous", "count", "ordinal", "score"
CATEGORICAL = "categorical"
OUTCOME_KINDS = frozenset({BINARY, CONTINUOUS, COUNT, ORDINAL, SCORE})
"""Kinds a plan may name as an outcome; each has a model (``reports.choices.model_text``)."""
COVARIATE_KINDS = OUTCOME_KINDS | {CATEGORICAL}
"""Kinds whose baseline value may adjust a model (a categorical one as a factor)."""
SUBGROUP_KINDS = frozenset({BINARY, CATEGORICAL, ORDINAL})
"""Kinds whose baseline value may define subgroups (one subgroup per answer)."""
NUMERIC_KINDS = frozenset({CONTINUOUS, COUNT, ORDINAL, SCORE})
TEXT_KINDS = frozenset({CATEGORICAL, "text", "occupation", "multi"})


def kind_of(variable: Variable) -> str:
    """The variable's kind as a plain string (whatever type the dictionary uses for it)."""
    kind: Any = variable.kind
    return str(getattr(kind, "value", kind))


def label_of(variable: Variable, language: str | None = None) -> str:
    """The variable's label in ``language`` (the active one by default), else its name."""
    text: Any = variable.label
    shown = text.get(language) if isinstance(text, Text) else str(text or "")
    return shown or variable.name


def missing_labels(variable: Variable) -> dict[str, Text]:
    """The variable's missing-data codes and their labels (a mapping or a list of codes)."""
    codes: Any = variable.missing_codes
    if isinstance(codes, Mapping):
        return {str(k): v if isinstance(v, Text) else Text.from_json(v) for k, v in codes.items()}
    out: dict[str, Text] = {}
    for code in codes or ():
        if isinstance(code, str):
            out[code] = Text(code, code)
        else:
            out[str(code.code)] = code.label
    return out


def dictionary(trial: Trial) -> dict[str, Variable]:
    """The trial's variables by name, in the dictionary's order."""
    return {v.name: v for v in variables(trial)}


def baseline_key(name: str) -> str:
    return f"{name}{BASELINE}"


def baseline_name(key: str) -> str | None:
    """The variable of a ``<name>@baseline`` key, or None for any other key."""
    return key.removesuffix(BASELINE) if key.endswith(BASELINE) else None


def baseline_visit(trial: Trial) -> str | None:
    """The code of the trial's visit 0 months from randomisation, if it has one."""
    code: str | None = (
        trial.visit_definitions.filter(offset_months=0).values_list("code", flat=True).first()
    )
    return code


def at_baseline(found: Iterable[Variable], visit: str | None) -> list[Variable]:
    """The variables asked at the baseline visit ``visit`` (none without one)."""
    if visit is None:
        return []
    return [v for v in found if visit in v.visits]
