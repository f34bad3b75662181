"""Forms for trial set-up. They check the shape of the input; the services enforce the rules.

Plain forms whose fields come from the model fields, so labels, help texts and validators are
the model's, and no form ever writes to a model instance behind a service's back.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.db import models
from django.utils.translation import gettext_lazy as _

from trial.models import (
    Arm,
    CovariateDefinition,
    ExclusionReason,
    Membership,
    Site,
    Trial,
    VisitDefinition,
)


def _field(model: type[models.Model], name: str, **kwargs: Any) -> forms.Field:
    model_field: models.Field[Any, Any] = model._meta.get_field(name)  # type: ignore[assignment]  # a field
    field = model_field.formfield(**kwargs)
    assert field is not None, name  # noqa: S101 - a programming error, not user input
    # Model validators (a regex, a minimum) do not carry over to form fields by themselves.
    field.validators += [v for v in model_field.validators if v not in field.validators]
    return field


def _textarea(rows: int = 3) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows, "cols": 60})


class TrialForm(forms.Form):
    """The trial's settings, as edited after creation (the code is fixed: it is in URLs)."""

    title = _field(Trial, "title")
    registry_id = _field(Trial, "registry_id")
    design = _field(Trial, "design")
    target_size = _field(Trial, "target_size")
    description = _field(Trial, "description", widget=_textarea(4))
    contamination_question = _field(Trial, "contamination_question", widget=_textarea(2))
    eligibility_check = _field(Trial, "eligibility_check", required=False)

    def clean_eligibility_check(self) -> str | None:
        """Left out: unchanged (a new trial refuses values outside the eligibility ranges)."""
        return self.cleaned_data["eligibility_check"] or None


class NewTrialForm(TrialForm):
    code = _field(Trial, "code")

    field_order = ["code", "title", "registry_id", "design", "target_size", "description"]


class StatusForm(forms.Form):
    status = forms.ChoiceField(label=_("New status"))

    def __init__(self, *args: Any, trial: Trial, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        allowed = Trial.TRANSITIONS[Trial.Status(trial.status)]
        self.fields["status"].choices = [("", _("Choose…"))] + [  # type: ignore[attr-defined]  # a ChoiceField
            (value, label) for value, label in Trial.Status.choices if value in allowed
        ]


class ArmForm(forms.Form):
    code = _field(Arm, "code")
    name = _field(Arm, "name")
    allocation_weight = _field(Arm, "allocation_weight")
    is_control = _field(Arm, "is_control")
    description = _field(Arm, "description", widget=_textarea())


class SiteForm(forms.Form):
    code = _field(Site, "code")
    name = _field(Site, "name")
    municipality_number = _field(Site, "municipality_number")
    region = _field(Site, "region")


class MembershipForm(forms.Form):
    """A member's role; caseworkers are limited to the sites ticked."""

    role = _field(Membership, "role")
    sites = forms.ModelMultipleChoiceField(
        queryset=Site.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("Sites"),
        help_text=_("Required for caseworkers, who see only participants at these sites."),
    )
    unblinded = _field(Membership, "unblinded")

    def __init__(self, *args: Any, trial: Trial, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sites"].queryset = trial.sites.order_by("code")  # type: ignore[attr-defined]  # a ModelChoiceField


class NewMembershipForm(MembershipForm):
    username = forms.CharField(
        label=_("Username"),
        max_length=150,
        help_text=_("The person must have a user account already."),
    )

    field_order = ["username", "role", "sites", "unblinded"]


class ExclusionReasonForm(forms.Form):
    code = _field(ExclusionReason, "code")
    label = _field(ExclusionReason, "label")
    order = _field(ExclusionReason, "order")


class ChoicesField(forms.CharField):
    """Options of a choice covariate, one ``value | label`` per line, as ``[[value, label]]``."""

    widget = _textarea(5)

    def to_python(self, value: Any) -> list[list[str]]:  # type: ignore[override]  # returns the parsed value
        text: str = super().to_python(value)  # type: ignore[assignment]  # empty_value is ""
        pairs: list[list[str]] = []
        seen: set[str] = set()
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            value_part, bar, label_part = line.partition("|")
            option, label = value_part.strip(), label_part.strip()
            if not bar or not option or not label:
                raise forms.ValidationError(
                    _("Line %(number)s: write the value, a bar and the label, e.g. “f | Female”."),
                    params={"number": number},
                )
            if option in seen:
                raise forms.ValidationError(
                    _("The value “%(value)s” appears twice."), params={"value": option}
                )
            seen.add(option)
            pairs.append([option, label])
        return pairs

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return "\n".join(f"{option} | {label}" for option, label in value)
        return value


class CovariateForm(forms.Form):
    key = _field(CovariateDefinition, "key")
    label = _field(CovariateDefinition, "label")
    kind = _field(CovariateDefinition, "kind")
    choices = ChoicesField(
        label=_("Options"),
        required=False,
        help_text=_("For a choice only: one option a line, the stored value | the label."),
    )
    min_value = _field(CovariateDefinition, "min_value")
    max_value = _field(CovariateDefinition, "max_value")
    eligible_min = _field(CovariateDefinition, "eligible_min")
    eligible_max = _field(CovariateDefinition, "eligible_max")
    required = _field(CovariateDefinition, "required")
    order = _field(CovariateDefinition, "order")


class VisitDefinitionForm(forms.Form):
    code = _field(VisitDefinition, "code")
    label = _field(VisitDefinition, "label")
    offset_months = _field(VisitDefinition, "offset_months")
    window_before_days = _field(VisitDefinition, "window_before_days")
    window_after_days = _field(VisitDefinition, "window_after_days")
