"""Forms for ordering reports and writing the analysis plan. They check shape only; the rules
are in reports.services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from reports import choices, exports, pipeline, registers
from reports import variables as dictionary
from reports.models import AnalysisPlan
from trial.models import Trial


class OrderReportForm(forms.Form):
    kind = forms.ChoiceField(label=_("Report"))
    cut_off = forms.DateField(
        label=_("Data cut-off"),
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Data recorded after this date are left out."),
    )
    seed = forms.IntegerField(
        label=_("Random seed"),
        required=False,
        min_value=0,
        max_value=2**31 - 1,
        help_text=_(
            "For the bootstrap and multiple imputation. Leave empty to derive it from the "
            "trial, report, cut-off and plan, so that a repeat gives the same numbers."
        ),
    )

    formats = forms.MultipleChoiceField(
        label=_("Files of the data sets"),
        choices=list(exports.FORMATS.items()),
        initial=list(exports.DEFAULT_FORMATS),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "Every format holds the same data with the labels of the data dictionary: variable "
            "labels, value labels and missing-data codes. None ticked: CSV and Stata."
        ),
    )
    drop_free_text = forms.BooleanField(
        label=_("Leave out free-text items"),
        required=False,
        help_text=_("Items of the type free text, as the data dictionary lists them."),
    )
    date_shift_days = forms.IntegerField(
        label=_("Shift dates by up to (days)"),
        required=False,
        min_value=0,
        max_value=exports.DATE_SHIFT_MAX,
        help_text=_(
            "Each participant's dates move by the same random number of days, earlier or later, "
            "so intervals stay as they were. Empty or 0: dates as recorded."
        ),
    )
    hash_study_ids = forms.ChoiceField(
        label=_("Study ids"),
        choices=list(exports.HASH_CHOICES.items()),
        initial=exports.KEEP,
        required=False,
        widget=forms.RadioSelect,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(k.key, k.label) for k in pipeline.KINDS.values()]  # type: ignore[attr-defined]  # a ChoiceField
        self.fields["cut_off"].initial = timezone.localdate()

    def export_choices(self) -> dict[str, Any]:
        """The file formats and de-identification, as ``services.request_report`` takes them."""
        data = self.cleaned_data
        return {
            "formats": data["formats"] or None,  # none ticked (or an older form): the default
            "drop_free_text": data["drop_free_text"],
            "date_shift_days": data["date_shift_days"] or 0,
            "hash_study_ids": data["hash_study_ids"] or exports.KEEP,
        }


class OutcomeField(forms.ChoiceField):
    """The offered outcomes, or any register endpoint's name (``months_in_work_0_6``): the
    plan's rules (reports.services.check_plan) then say what is wrong with it, if anything."""

    def valid_value(self, value: Any) -> bool:
        return registers.parse(value) is not None or super().valid_value(value)


class OutcomesField(forms.MultipleChoiceField):
    """As :class:`OutcomeField`, for several outcomes."""

    def valid_value(self, value: Any) -> bool:
        return registers.parse(value) is not None or super().valid_value(value)


class AnalysisPlanForm(forms.ModelForm):
    primary_outcome = OutcomeField(
        label=_("Primary outcome"),
        help_text=_(
            "Any yes/no, numeric or ordinal item or scale score of the trial's instruments. "
            "Its type decides the model: yes/no items get risk differences and odds ratios; "
            "numbers and scores differences in means (ANCOVA); counts also a rate ratio "
            "(Poisson regression, robust standard errors); ordinal items also a "
            "proportional-odds odds ratio. Or a register endpoint: months in a state within "
            "a window of follow-up (months_in_work_0_12), being in a state in month m "
            "(in_work_at_12), or the time to the first spell of a state (time_to_first_work)."
        ),
    )
    time_point = forms.ChoiceField(
        label=_("Time point"), help_text=_("The follow-up visit the primary analysis uses.")
    )
    secondary_outcomes = OutcomesField(
        label=_("Secondary outcomes"), required=False, widget=forms.CheckboxSelectMultiple
    )
    covariates = forms.MultipleChoiceField(
        label=_("Adjust for"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "Baseline covariates, the site, the randomisation stratum, and the value of any "
            "item or score at the baseline visit (0 months)."
        ),
    )
    subgroups = forms.MultipleChoiceField(
        label=_("Subgroups"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "Categorical baseline covariates and yes/no or choice items at the baseline visit; "
            "each gets an interaction test."
        ),
    )

    class Meta:
        model = AnalysisPlan
        fields = [
            "primary_outcome",
            "time_point",
            "secondary_outcomes",
            "analysis_model",
            "covariates",
            "missing",
            "subgroups",
            "notes",
        ]
        widgets = {
            "analysis_model": forms.Textarea(attrs={"rows": 3}),
            "notes": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args: Any, trial: Trial, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        found = dictionary.variables(trial)
        outcomes = choices.outcome_choices(trial, found)
        self.fields["primary_outcome"].choices = outcomes  # type: ignore[attr-defined]  # a ChoiceField
        self.fields["secondary_outcomes"].choices = outcomes  # type: ignore[attr-defined]  # a ChoiceField
        self.fields["time_point"].choices = choices.time_point_choices(trial)  # type: ignore[attr-defined]  # a ChoiceField
        self.fields["covariates"].choices = choices.covariate_choices(trial, found)  # type: ignore[attr-defined]  # a ChoiceField
        self.fields["subgroups"].choices = choices.subgroup_choices(trial, found)  # type: ignore[attr-defined]  # a ChoiceField


class SupersedeForm(forms.Form):
    reason = forms.CharField(
        label=_("Why does the plan need a new version?"),
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=2000,
    )


class UnblindAnalysisForm(forms.Form):
    cut_off = forms.DateField(
        label=_("Data cut-off"),
        help_text=_("The data up to this date are locked by their snapshot hash."),
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    reason = forms.CharField(
        label=_("Why is the analysis unblinded now?"),
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=2000,
    )
    confirm = forms.BooleanField(
        label=_(
            "I understand that from now on every member of the trial, the blinded "
            "statisticians included, sees the arm names, and that this cannot be undone."
        )
    )
