"""Forms for fidelity scales and reviews. They check the shape of the input; the rules are in
``fidelity.scales``."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fidelity.models import Scale, ScaleItem
from trial.models import Site

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


class ReviewForm(forms.Form):
    site = forms.ModelChoiceField(label=_("Site"), queryset=Site.objects.none())
    review_date = forms.DateField(
        label=_("Review date"), widget=forms.DateInput(attrs={"type": "date"})
    )
    scale = forms.ModelChoiceField(
        label=_("Scale (version)"),
        queryset=Scale.objects.none(),
        help_text=_("The review keeps this version even if the scale is changed later."),
    )
    reviewers = forms.MultipleChoiceField(
        label=_("Reviewers"),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Each reviewer scores on their own before the consensus."),
    )

    def __init__(
        self,
        *args: Any,
        sites: QuerySet[Site],
        scales: QuerySet[Scale],
        reviewers: list[Any],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites  # type: ignore[attr-defined]  # a ModelChoiceField
        self.fields["scale"].queryset = scales  # type: ignore[attr-defined]  # a ModelChoiceField
        self.reviewer_users = {str(u.pk): u for u in reviewers}
        self.fields["reviewers"].choices = [  # type: ignore[attr-defined]  # a MultipleChoiceField
            (str(u.pk), u.get_full_name() or u.get_username()) for u in reviewers
        ]
        self.fields["review_date"].initial = timezone.localdate()

    def chosen_reviewers(self) -> list[Any]:
        return [self.reviewer_users[pk] for pk in self.cleaned_data["reviewers"]]


class ScoreForm(forms.Form):
    """One radio group per item, each scored with one of the scale's levels.

    Every item may be left blank (a draft): blank stays blank, never zero. Whether the
    submission must be complete is the service's rule (``fidelity.scales``).
    """

    def __init__(self, *args: Any, scale: Scale, items: list[ScaleItem], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.scale = scale
        self.items = items
        choices = [(str(level), str(level)) for level in scale.levels]
        for item in items:
            self.fields[f"item_{item.number}"] = forms.TypedChoiceField(
                label=item.title,
                choices=choices,
                coerce=int,
                required=False,
                empty_value=None,
                widget=forms.RadioSelect,
                error_messages={
                    "invalid_choice": _("Choose a level from %(low)s to %(high)s.")
                    % {"low": scale.min_level, "high": scale.max_level},
                },
            )

    def scores(self) -> dict[int, int]:
        """The items given a score; blank ones are left out."""
        return {
            item.number: score
            for item in self.items
            if (score := self.cleaned_data[f"item_{item.number}"]) is not None
        }

    def rows(self) -> list[dict[str, Any]]:
        """Per item: the item, its bound field, the chosen value and (level, anchor) pairs."""
        rows = []
        for item in self.items:
            bound = self[f"item_{item.number}"]
            value = bound.value()
            rows.append(
                {
                    "item": item,
                    "field": bound,
                    "value": str(value) if value not in (None, "") else "",
                    "levels": [(str(level), item.anchor(level)) for level in self.scale.levels],
                }
            )
        return rows
