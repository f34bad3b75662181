"""The period and site a dashboard covers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from trial.models import Site


class PeriodForm(forms.Form):
    """The period and site a dashboard covers; empty fields mean everything up to today."""

    start = forms.DateField(
        label=gettext_lazy("From"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    end = forms.DateField(
        label=gettext_lazy("Up to and including"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=gettext_lazy("The cut-off; empty for today."),
    )
    site = forms.ChoiceField(label=gettext_lazy("Site"), required=False)

    def __init__(self, *args: Any, sites: list[Site], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["site"].choices = [("", _("All sites"))] + [  # type: ignore[attr-defined]  # a ChoiceField
            (site.code, f"{site.code} {site.name}") for site in sites
        ]

    def clean_end(self) -> dt.date | None:
        end: dt.date | None = self.cleaned_data.get("end")
        if end is not None and end > timezone.localdate():
            raise forms.ValidationError(_("The cut-off cannot be in the future."))
        return end

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end") or timezone.localdate()
        if start is not None and start > end:
            self.add_error("start", _("The period must start on or before its cut-off."))
        return data
