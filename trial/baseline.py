"""Baseline covariates: a participant's values checked against the trial's definitions, and
the trial's eligibility ranges. Reads only; ``trial.services`` calls these when it enrols."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

from trial.errors import TrialError
from trial.models import CovariateDefinition, Trial


def validate_baseline(trial: Trial, values: dict[str, Any]) -> dict[str, Any]:
    """Check baseline covariates against the trial's definitions and return typed values.

    Raises BaselineError carrying one message per covariate key at fault.
    """
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    definitions = list(trial.covariates.all())
    known = {d.key for d in definitions}
    for key in values:
        if key not in known:
            errors[key] = _("Unknown covariate.")
    for definition in definitions:
        raw = values.get(definition.key)
        if raw is None or raw == "":
            if definition.required:
                errors[definition.key] = _("This covariate is required.")
            continue
        try:
            clean[definition.key] = _clean_covariate(definition, raw)
        except ValueError as exc:
            errors[definition.key] = str(exc)
    if errors:
        raise BaselineError(errors)
    return clean


def _clean_covariate(definition: CovariateDefinition, raw: Any) -> Any:
    kind = CovariateDefinition.Kind
    if definition.kind == kind.BOOLEAN:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"1", "true", "yes", "ja", "y"}:
            return True
        if text in {"0", "false", "no", "nei", "n"}:
            return False
        raise ValueError(_("Answer yes or no."))
    if definition.kind == kind.CHOICE:
        allowed = [str(pair[0]) for pair in definition.choices]
        if str(raw) not in allowed:
            raise ValueError(_("Choose one of: %(choices)s.") % {"choices": ", ".join(allowed)})
        return str(raw)
    try:
        number = Decimal(str(raw).strip().replace(",", "."))
    except InvalidOperation:
        raise ValueError(_("Enter a number.")) from None
    if definition.kind == kind.INTEGER and number != number.to_integral_value():
        raise ValueError(_("Enter a whole number."))
    if definition.min_value is not None and number < definition.min_value:
        raise ValueError(_("Must be at least %(min)s.") % {"min": _plain(definition.min_value)})
    if definition.max_value is not None and number > definition.max_value:
        raise ValueError(_("Must be at most %(max)s.") % {"max": _plain(definition.max_value)})
    return int(number) if definition.kind == kind.INTEGER else float(number)


def _plain(number: Decimal) -> str:
    """16.00 -> 16, 2.50 -> 2.5: limits as people write them."""
    return format(number.normalize(), "f")


class BaselineError(TrialError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(_("Some baseline covariates are invalid."), field="baseline")
        self.errors = errors


def eligibility_problems(trial: Trial, baseline: dict[str, Any]) -> dict[str, str]:
    """The covariates of ``baseline`` (valid, typed values) outside the trial's eligibility
    ranges, each with a message naming the value and the range. Writes nothing."""
    problems: dict[str, str] = {}
    for definition in trial.covariates.all():
        value = baseline.get(definition.key)
        low, high = definition.eligible_min, definition.eligible_max
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue  # a choice, a yes/no or a blank has no range
        if (low is not None and value < low) or (high is not None and value > high):
            problems[definition.key] = _(
                "%(value)s is outside the eligibility range (%(range)s)."
            ) % {"value": value, "range": definition.eligibility_range}
    return problems


class EligibilityError(BaselineError):
    """Baseline values outside the eligibility ranges: ``errors`` maps covariate keys to
    messages. ``refused``: the trial refuses such values; else it accepts them once the user
    confirms (``enrol_participant(accept_ineligible=True)``)."""

    def __init__(self, errors: dict[str, str], *, refused: bool) -> None:
        super().__init__(errors)
        self.refused = refused
        self.message = (
            _("Outside the trial's eligibility criteria: the trial does not enrol such a person.")
            if refused
            else _(
                "Outside the trial's eligibility criteria: check the values, and confirm to "
                "enrol this person anyway."
            )
        )
