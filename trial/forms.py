"""Forms check the shape of input; the services in trial.services enforce the rules."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from trial.models import (
    CovariateDefinition,
    ExclusionReason,
    LossToFollowUp,
    ScreeningRecord,
    Site,
    Trial,
    Withdrawal,
)
from trial.personal_numbers import validate_personal_number

DATE = forms.DateInput(attrs={"type": "date"})


class ScreeningForm(forms.Form):
    site = forms.ModelChoiceField(queryset=Site.objects.none(), label=_("Site"))
    screened_on = forms.DateField(label=_("Screened on"), widget=DATE)
    eligible = forms.TypedChoiceField(
        label=_("Eligible"),
        choices=[("yes", _("Yes")), ("no", _("No"))],
        coerce=lambda value: value == "yes",
        widget=forms.RadioSelect,
    )
    exclusion_reason = forms.ModelChoiceField(
        queryset=ExclusionReason.objects.none(),
        required=False,
        label=_("Exclusion reason"),
        help_text=_("Required when the person is not eligible."),
    )
    declined = forms.BooleanField(required=False, label=_("Eligible, but declined to take part"))

    def __init__(self, *args: Any, trial: Trial, sites: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites  # type: ignore[attr-defined]  # a ModelChoiceField
        self.fields["exclusion_reason"].queryset = trial.exclusion_reasons.all()  # type: ignore[attr-defined]  # a ModelChoiceField


class EnrolmentForm(forms.Form):
    site = forms.ModelChoiceField(queryset=Site.objects.none(), label=_("Site"))
    personal_number = forms.CharField(
        label=_("Personal number (fødselsnummer or D-number)"),
        max_length=13,
        help_text=_("11 digits. Stored encrypted; never shown again."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
    )
    enrolled_on = forms.DateField(label=_("Enrolled on"), widget=DATE)
    consent_version = forms.CharField(label=_("Consent form version"), max_length=40)
    consent_date = forms.DateField(label=_("Consent date"), widget=DATE)
    screening = forms.ModelChoiceField(
        queryset=ScreeningRecord.objects.none(),
        required=False,
        label=_("Screening record"),
        help_text=_("The eligible screening record of this person, if logged."),
    )

    def __init__(self, *args: Any, trial: Trial, sites: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites  # type: ignore[attr-defined]  # a ModelChoiceField
        self.fields["screening"].queryset = (  # type: ignore[attr-defined]  # a ModelChoiceField
            ScreeningRecord.objects.filter(
                trial=trial,
                site__in=sites,
                eligible=True,
                declined=False,
                participant__isnull=True,
            ).select_related("site")
        )
        self.covariates = list(trial.covariates.all())
        for definition in self.covariates:
            self.fields[f"baseline_{definition.key}"] = covariate_field(definition)

    def clean_personal_number(self) -> str:
        return validate_personal_number(self.cleaned_data["personal_number"])

    def baseline(self) -> dict[str, Any]:
        return {d.key: self.cleaned_data.get(f"baseline_{d.key}") for d in self.covariates}


def covariate_field(definition: CovariateDefinition) -> forms.Field:
    kind = CovariateDefinition.Kind
    common: dict[str, Any] = {"label": definition.label, "required": definition.required}
    if definition.eligibility_range:
        common["help_text"] = _("Eligible: %(range)s.") % {"range": definition.eligibility_range}
    if definition.kind == kind.CHOICE:
        choices = [("", "---------"), *[(str(v), str(lbl)) for v, lbl in definition.choices]]
        return forms.ChoiceField(choices=choices, **common)
    if definition.kind == kind.BOOLEAN:
        return forms.ChoiceField(
            choices=[("", "---------"), ("yes", _("Yes")), ("no", _("No"))], **common
        )
    return forms.DecimalField(
        min_value=definition.min_value,
        max_value=definition.max_value,
        decimal_places=0 if definition.kind == kind.INTEGER else 2,
        **common,
    )


class WithdrawalForm(forms.ModelForm):
    class Meta:
        model = Withdrawal
        fields = ["withdrawn_on", "scope", "reason"]
        widgets = {"withdrawn_on": DATE, "scope": forms.RadioSelect}


class LossToFollowUpForm(forms.ModelForm):
    class Meta:
        model = LossToFollowUp
        fields = ["lost_on", "reason", "detail"]
        widgets = {"lost_on": DATE, "reason": forms.RadioSelect}
