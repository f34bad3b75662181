"""Forms of the unit-cost pages: they check shape; the rules are in economics.services."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from economics.models import EconomicSettings, UnitCost
from economics.plans import SETTING_KEYS
from trial.models import Trial

MAX_UPLOAD_BYTES = 2 * 1024 * 1024


class ArmCodeField(forms.ModelChoiceField):
    """Arms by code only: a blinded statistician may read the unit-cost page."""

    def label_from_instance(self, obj: Any) -> str:
        return str(obj.code)


class UnitCostForm(forms.ModelForm):
    class Meta:
        model = UnitCost
        fields = ["kind", "key", "arm", "amount", "price_year", "valid_from", "valid_to", "note"]
        field_classes = {"arm": ArmCodeField}
        widgets = {
            "valid_from": forms.DateInput(attrs={"type": "date"}),
            "valid_to": forms.DateInput(attrs={"type": "date"}),
        }

    def __init__(self, *args: Any, trial: Trial, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        arm_field = self.fields["arm"]
        if not isinstance(arm_field, forms.ModelChoiceField):  # pragma: no cover
            raise TypeError("arm must be a model choice field")
        arm_field.queryset = trial.arms.order_by("code")

    def _post_clean(self) -> None:
        """Model validation is the service's (with the trial set); skip the form's copy."""


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("Unit costs (CSV)"),
        help_text=_(
            "Columns: kind, key, arm (code, optional), amount, price_year, valid_from, valid_to "
            "(empty: open), note (optional). Dates as YYYY-MM-DD."
        ),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(_("The file is larger than 2 MB."))
        return upload


class SettingsForm(forms.ModelForm):
    price_index = forms.CharField(
        label=_("Price index"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_('Index by year, e.g. {"2024": 131.8, "2025": 135.9} (consumer prices).'),
    )

    class Meta:
        model = EconomicSettings
        fields = list(SETTING_KEYS)  # what a coordinator sets is what a locked plan freezes

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound and self.instance.pk:
            self.initial["price_index"] = json.dumps(self.instance.price_index)
        for name in ("effect", "earnings"):  # a form without them keeps what is set
            self.fields[name].required = False

    def clean_effect(self) -> Any:
        return self.cleaned_data["effect"] or self.instance.effect

    def clean_earnings(self) -> Any:
        return self.cleaned_data["earnings"] or self.instance.earnings

    def clean_price_index(self) -> Any:
        raw = self.cleaned_data["price_index"].strip()
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise forms.ValidationError(
                _('Write the price index as {"year": value, ...}.')
            ) from None

    def _post_clean(self) -> None:
        """Model validation is the service's."""
