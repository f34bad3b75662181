"""Forms for defining fidelity scales and their items. They check the shape of the input; the
rules are in ``fidelity.scales.services``."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from fidelity.models import Scale

BAND_LINE = re.compile(r"^\s*(\d+)\s*[-–]\s*(\d+)\s+(.+?)\s*$")


def bands_as_text(bands: list[dict[str, Any]]) -> str:
    return "\n".join(f"{b['min']}–{b['max']} {b['label']}" for b in bands)


class ScaleForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    version = forms.CharField(
        label=_("Version"),
        max_length=60,
        help_text=_("E.g. the year or edition of the form. Reviews record the version used."),
    )
    source = forms.CharField(
        label=_("Source"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    notes = forms.CharField(
        label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    min_level = forms.IntegerField(label=_("Lowest level of an item"), min_value=0, initial=1)
    max_level = forms.IntegerField(
        label=_("Highest level of an item"), min_value=1, max_value=20, initial=5
    )
    bands = forms.CharField(
        label=_("Bands"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_(
            "One band a line: lowest total–highest total, then the label, e.g. "
            "“100–114 Good fidelity”."
        ),
    )

    def clean_bands(self) -> list[dict[str, Any]]:
        bands = []
        for number, line in enumerate(self.cleaned_data["bands"].splitlines(), start=1):
            if not line.strip():
                continue
            match = BAND_LINE.match(line)
            if match is None:
                raise forms.ValidationError(
                    _("Line %(line)s: write “lowest–highest label”, e.g. “74–99 Fair”."),
                    params={"line": number},
                )
            bands.append({"min": int(match[1]), "max": int(match[2]), "label": match[3]})
        return bands


class ItemForm(forms.Form):
    number = forms.IntegerField(label=_("Number"), min_value=1)
    section = forms.CharField(label=_("Section"), max_length=80, required=False)
    title = forms.CharField(label=_("Title"), max_length=200)
    description = forms.CharField(
        label=_("Criterion"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: Any, scale: Scale, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.levels = scale.levels
        for level in self.levels:
            self.fields[f"anchor_{level}"] = forms.CharField(
                label=_("Level %(level)s") % {"level": level},
                max_length=500,
                error_messages={"required": _("Describe this level.")},
            )

    def anchors(self) -> dict[int, str]:
        return {level: self.cleaned_data[f"anchor_{level}"] for level in self.levels}
