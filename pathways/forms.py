"""Forms of the pathways pages: they check shape; the rules are in the services."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from pathways.models import PathwaySettings, SpellState

MAX_UPLOAD_BYTES = 200 * 1024 * 1024


class UploadForm(forms.Form):
    file = forms.FileField(
        label=_("Register file (CSV)"),
        help_text=_(
            "Columns: study_id or personal_number, state, start_date, end_date (empty: open), "
            "source and detail (optional). Dates as YYYY-MM-DD."
        ),
    )
    source = forms.CharField(
        label=_("Source"),
        max_length=60,
        initial="register",
        help_text=_("The register the file comes from, used where a row gives no source."),
    )

    def clean_file(self) -> object:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                _("The file is larger than %(mb)s MB; import it with the command line.")
                % {"mb": MAX_UPLOAD_BYTES // (1024 * 1024)}
            )
        return upload


class ConfirmForm(forms.Form):
    skip_invalid = forms.BooleanField(
        label=_("Import the valid rows only, and skip the rows with errors"), required=False
    )


class StateForm(forms.ModelForm):
    class Meta:
        model = SpellState
        fields = ["code", "label_en", "label_nb", "colour", "priority", "detail"]
        widgets = {"colour": forms.TextInput(attrs={"type": "color"})}


class SettingsForm(forms.ModelForm):
    class Meta:
        model = PathwaySettings
        fields = ["origin", "calendar_start", "follow_up_months", "month_rule", "data_until"]
        widgets = {
            "calendar_start": forms.DateInput(attrs={"type": "date"}),
            "data_until": forms.DateInput(attrs={"type": "date"}),
        }


class ReviewForm(forms.Form):
    note = forms.CharField(label=_("Note"), max_length=300, required=False)
