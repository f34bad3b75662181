"""Forms of electronic consent (shape only; the services check the rules)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from trial.models import Withdrawal

MARKUP_HELP = _(
    "Plain text. An empty line starts a new paragraph, a line starting with “# ” is a heading "
    "and lines starting with “- ” make a list."
)


class ConsentTextForm(forms.Form):
    version = forms.CharField(label=_("Version"), max_length=40)
    effective_on = forms.DateField(
        label=_("In force from"), widget=forms.DateInput(attrs={"type": "date"})
    )
    text_nb = forms.CharField(
        label=_("Text in bokmål"), help_text=MARKUP_HELP, widget=forms.Textarea(attrs={"rows": 14})
    )
    text_en = forms.CharField(
        label=_("Text in English"), help_text=MARKUP_HELP, widget=forms.Textarea(attrs={"rows": 14})
    )


class ConfirmForm(forms.Form):
    """The consent screen's answer: the text and language shown (with the hash of what was
    shown), and for a consent the typed name and date."""

    text = forms.IntegerField(widget=forms.HiddenInput)
    language = forms.ChoiceField(choices=[("nb", "nb"), ("en", "en")], widget=forms.HiddenInput)
    shown_sha256 = forms.CharField(max_length=64, widget=forms.HiddenInput)
    typed_name = forms.CharField(
        label=_("Your full name"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    signed_on = forms.DateField(
        label=_("Today's date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )


class WithdrawForm(forms.Form):
    scope = forms.ChoiceField(
        label=_("What may the study still do?"),
        choices=Withdrawal.Scope.choices,
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(
        label=_("Reason (if you want to give one)"),
        required=False,
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
