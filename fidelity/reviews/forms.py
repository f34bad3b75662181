"""Forms for planning and scoring fidelity reviews. They check the shape of the input; the
rules are in ``fidelity.reviews.services``."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fidelity.models import Scale, ScaleItem
from trial.models import Site


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
    submission must be complete is the service's rule (``fidelity.reviews.services``).
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
