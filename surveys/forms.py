"""Staff forms for participant questionnaires (shape only; the services check the rules)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from surveys.models import LANGUAGES


class ContactForm(forms.Form):
    email = forms.CharField(
        label=_("E-mail address"),
        required=False,
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )
    phone = forms.CharField(
        label=_("Mobile phone"),
        required=False,
        max_length=30,
        help_text=_("For SMS. 8 digits for a Norwegian number, or with + and country code."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "tel"}),
    )
    language = forms.ChoiceField(label=_("Language of messages and pages"), choices=LANGUAGES)


class SettingsForm(forms.Form):
    links_enabled = forms.BooleanField(
        label=_("Participant links on"),
        required=False,
        help_text=_("Off: no link works and no invitation or reminder is sent (a kill switch)."),
    )
    reminder_days = forms.CharField(
        label=_("Reminder days"),
        required=False,
        max_length=60,
        help_text=_(
            "Days after the invitation or consent link on which to remind, e.g. 3, 7. Empty: none."
        ),
    )
