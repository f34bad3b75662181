"""Forms for the contact log. They check the shape of the input; ``fidelity.contacts.services``
enforces the rules."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from fidelity.forms import DATE, ComponentChoiceField
from fidelity.models import CONTACT_MINUTES_MAX, CONTACT_NOTE_MAX, Component, Contact
from trial.models import Site, Trial


class ContactComponentField(ComponentChoiceField):
    """Components of a contact, the intervention-specific ones marked as such: everyone logging
    a contact may know which components count as contamination in a control arm."""

    def label_from_instance(self, obj: Component) -> str:
        if obj.intervention_specific:
            return _("%(name)s (intervention-specific)") % {"name": obj.name}
        return obj.name


class ContactFieldsForm(forms.Form):
    """What every contact has: the fields its author may still correct."""

    contact_on = forms.DateField(label=_("Date"), widget=DATE)
    mode = forms.ChoiceField(
        label=_("Mode"), choices=Contact.Mode.choices, widget=forms.RadioSelect
    )
    minutes = forms.IntegerField(
        label=_("Minutes"),
        min_value=1,
        max_value=CONTACT_MINUTES_MAX,
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "size": 4}),
    )
    partners = forms.MultipleChoiceField(
        label=_("Who took part"),
        choices=Contact.Partner.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    components = ContactComponentField(
        label=_("Components delivered"),
        queryset=Component.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "Intervention-specific components are not part of usual services: delivered to a "
            "participant in a control arm, they are recorded as a contamination exposure."
        ),
    )
    note = forms.CharField(
        label=_("Short note"),
        max_length=CONTACT_NOTE_MAX,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text=_("No names or personal numbers: the note is part of the trial data."),
    )

    def __init__(self, *args: Any, trial: Trial, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        components: ContactComponentField = self.fields["components"]  # type: ignore[assignment]  # declared as one
        components.queryset = Component.objects.filter(trial=trial).order_by("order", "code")


class ContactForm(ContactFieldsForm):
    """A contact with one participant, found by study id among the user's own participants."""

    study_id = forms.CharField(
        label=_("Participant (study id)"),
        max_length=30,
        help_text=_("Type part of the study id to search your participants."),
    )
    client_id = forms.UUIDField(widget=forms.HiddenInput, required=False)

    field_order = ["study_id", "contact_on", "mode", "minutes", "partners", "components", "note"]

    def __init__(self, *args: Any, trial: Trial, **kwargs: Any) -> None:
        super().__init__(*args, trial=trial, **kwargs)
        self.fields["study_id"].widget.attrs.update(
            {
                "list": "participant-options",
                "autocomplete": "off",
                "autofocus": True,
                "spellcheck": "false",
                "hx-get": reverse("fidelity:participant_search", args=[trial.code]),
                "hx-trigger": "input changed delay:200ms, focus once",
                "hx-target": "#participant-options",
                "hx-swap": "innerHTML",
            }
        )

    def clean_study_id(self) -> str:
        return str(self.cleaned_data["study_id"]).strip()


class EmployerContactForm(ContactFieldsForm):
    """A contact with an employer about no single participant (job development)."""

    site = forms.ModelChoiceField(label=_("Site"), queryset=Site.objects.none())
    client_id = forms.UUIDField(widget=forms.HiddenInput, required=False)

    field_order = ["site", "contact_on", "mode", "minutes", "partners", "components", "note"]

    def __init__(self, *args: Any, trial: Trial, sites: QuerySet[Site], **kwargs: Any) -> None:
        super().__init__(*args, trial=trial, **kwargs)
        site: forms.ModelChoiceField = self.fields["site"]  # type: ignore[assignment]  # declared as one
        site.queryset = sites
        site.widget.attrs["autofocus"] = True
