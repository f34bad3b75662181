"""Forms for noting and correcting adaptations. They check the shape of the input;
``fidelity.adaptations.services`` enforces the rules."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from fidelity.forms import DATE
from fidelity.models import ADAPTATION_DESCRIPTION_MAX, Component
from trial.models import Site, Trial


class AdaptationForm(forms.Form):
    site = forms.ModelChoiceField(
        label=_("Site"),
        queryset=Site.objects.none(),
        required=False,
        empty_label=_("Whole trial"),
    )
    adapted_on = forms.DateField(label=_("Date"), widget=DATE)
    component = forms.ModelChoiceField(
        label=_("Component affected"),
        queryset=Component.objects.none(),
        required=False,
        empty_label=_("None in particular"),
    )
    description = forms.CharField(
        label=_("What changed"),
        max_length=ADAPTATION_DESCRIPTION_MAX,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_(
            "E.g. the office stopped weekly employer visits in July for want of staff, and why."
        ),
    )

    def __init__(self, *args: Any, trial: Trial, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        site: forms.ModelChoiceField = self.fields["site"]  # type: ignore[assignment]  # declared as one
        site.queryset = trial.sites.order_by("code")
        component: forms.ModelChoiceField = self.fields["component"]  # type: ignore[assignment]  # declared as one
        component.queryset = Component.objects.filter(trial=trial).order_by("order", "code")


class NewAdaptationForm(AdaptationForm):
    """Noting an adaptation: with a client id, so that a double submission records it once."""

    client_id = forms.UUIDField(widget=forms.HiddenInput, required=False)
