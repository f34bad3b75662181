"""Forms for the contamination records: site-level events and staff site assignments. They
check the shape of the input; ``fidelity.contamination.services`` enforces the rules."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from fidelity.contamination.services import SITE_EVENT_NOTE_MAX
from fidelity.forms import DATE, ComponentChoiceField
from fidelity.models import Component
from trial.models import Site, Trial


class SiteEventForm(forms.Form):
    site = forms.ModelChoiceField(label=_("Control site"), queryset=Site.objects.none())
    client_id = forms.UUIDField(widget=forms.HiddenInput, required=False)
    occurred_on = forms.DateField(label=_("Date"), widget=DATE)
    components = ComponentChoiceField(
        label=_("Components the site met"),
        queryset=Component.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Leave empty if the event concerned the method as a whole."),
    )
    note = forms.CharField(
        label=_("What happened"),
        max_length=SITE_EVENT_NOTE_MAX,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text=_("E.g. two caseworkers at the office attended an IPS course."),
    )

    def __init__(self, *args: Any, trial: Trial, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        site: forms.ModelChoiceField = self.fields["site"]  # type: ignore[assignment]  # declared as one
        site.queryset = trial.sites.order_by("code")
        components: ComponentChoiceField = self.fields["components"]  # type: ignore[assignment]  # declared as one
        components.queryset = Component.objects.filter(trial=trial).order_by("order", "code")


class SiteEventRemovalForm(forms.Form):
    reason = forms.CharField(
        label=_("Why is it removed?"),
        max_length=SITE_EVENT_NOTE_MAX,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60, "autofocus": True}),
        help_text=_("E.g. entered for the wrong office; the right one is recorded."),
    )
    whole_event = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args: Any, entries: int = 1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if entries > 1:
            self.fields["whole_event"].label = _(
                "Remove all %(count)d entries of this event (one per component)"
            ) % {"count": entries}
        else:
            del self.fields["whole_event"]


class SiteAssignmentForm(forms.Form):
    site = forms.ModelChoiceField(label=_("Site"), queryset=Site.objects.none())
    starts_on = forms.DateField(label=_("From"), widget=DATE)
    ends_on = forms.DateField(
        label=_("Until"), widget=DATE, required=False, help_text=_("Empty: still there.")
    )

    def __init__(self, *args: Any, trial: Trial, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        site: forms.ModelChoiceField = self.fields["site"]  # type: ignore[assignment]  # declared as one
        site.queryset = trial.sites.order_by("code")
