from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

MAX_FILE_BYTES = 5 * 1024 * 1024


class JEMImportForm(forms.Form):
    file = forms.FileField(
        label=_("JEM file (CSV)"),
        help_text=_("Columns code, level, measure, score (and optionally measure_label)."),
    )
    name = forms.CharField(label=_("Name"), max_length=200)
    version = forms.CharField(label=_("Version"), max_length=50)
    source = forms.CharField(
        label=_("Source / citation"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Where the matrix comes from: publication, web page, date retrieved."),
    )
    licence = forms.CharField(label=_("Licence"), max_length=200, required=False)
    illustrative = forms.BooleanField(
        label=_("Illustrative only (not for research use)"), required=False
    )
    activate = forms.BooleanField(label=_("Use this matrix for the trial"), required=False)

    def clean_file(self) -> object:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_FILE_BYTES:
            raise forms.ValidationError(
                _("The file is larger than %(mb)s MB; import it with the command line.")
                % {"mb": MAX_FILE_BYTES // (1024 * 1024)}
            )
        return upload
