"""Forms for allocating: the services in randomisation.allocation.services enforce the rules."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from trial.models import Arm, Trial

DATE = forms.DateInput(attrs={"type": "date"})


class RandomiseForm(forms.Form):
    """A confirmation, with a one-time token so a double click allocates only once."""

    confirm = forms.BooleanField(
        label=_("I have checked eligibility and consent for this participant."),
    )
    token = forms.CharField(widget=forms.HiddenInput)


class ManualAllocationForm(forms.Form):
    arm = forms.ModelChoiceField(queryset=Arm.objects.none(), label=_("Arm allocated"))
    on = forms.DateField(label=_("Randomised on"), widget=DATE)
    reference = forms.CharField(
        label=_("Envelope or list reference"),
        max_length=100,
        help_text=_("The number on the sealed envelope, or the line of the back-up list."),
    )
    reason = forms.CharField(
        label=_("Why the system was not used"),
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args: Any, trial: Trial, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["arm"].queryset = trial.arms.order_by("code")  # type: ignore[attr-defined]  # a ModelChoiceField


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}))
