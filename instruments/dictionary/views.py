"""The data dictionary pages: the trial's variables, the CSV download, and the import (upload,
a preview of what would change and of every problem by row and column, then confirm).

Between the preview and the confirmation the file travels in a signed field of the confirm
form (nothing is kept on the server); confirming checks it again against the trial as it is
then, so a change made in between is never overwritten unseen.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core import signing
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from instruments.definition import ITEM_TYPE_LABELS, ItemType
from instruments.dictionary import files
from instruments.dictionary.files import OWN, REDCAP, Problem
from instruments.dictionary.services import (
    Action,
    DictionaryError,
    ImportResult,
    check_dictionary,
    download_dictionary,
    import_dictionary,
)
from instruments.dictionary.variables import SCORE, Kind, Variable, variables
from trial import permissions
from trial.models import Trial
from trial.permissions import AuthenticatedHttpRequest, Perm
from trial.views import trial_view

DEFINE = Perm.DEFINE_INSTRUMENTS
"""The right to define instruments (and so to import a dictionary)."""
TOKEN_SALT = "instruments.dictionary.import"  # noqa: S105  # a signing salt, not a secret
TOKEN_MAX_AGE = 60 * 60

KIND_LABELS = {
    Kind.BINARY: gettext_lazy("binary"),
    Kind.CONTINUOUS: gettext_lazy("continuous"),
    Kind.COUNT: gettext_lazy("count"),
    Kind.ORDINAL: gettext_lazy("ordinal"),
    Kind.CATEGORICAL: gettext_lazy("categorical"),
    Kind.MULTI: gettext_lazy("multiple choice"),
    Kind.DATE: gettext_lazy("date"),
    Kind.TEXT: gettext_lazy("text"),
    Kind.OCCUPATION: gettext_lazy("occupation"),
    Kind.SCORE: gettext_lazy("score"),
}
ACTION_LABELS = {
    Action.CREATED: gettext_lazy("Created"),
    Action.CHANGED: gettext_lazy("Changed (no answers yet)"),
    Action.NEW_VERSION: gettext_lazy("New version (answers exist)"),
    Action.UNCHANGED: gettext_lazy("Unchanged"),
    Action.REMOVED: gettext_lazy("Removed"),
}
FORMAT_CHOICES = [
    (OWN, gettext_lazy("This system's data dictionary (CSV)")),
    (REDCAP, gettext_lazy("REDCap data dictionary (CSV)")),
]


def _nb() -> bool:
    return (get_language() or "en")[:2] in {"nb", "no", "nn"}


def _type_label(variable: Variable, language: str) -> str:
    if variable.item_type == SCORE:
        return _("Scale score")
    en, nb = ITEM_TYPE_LABELS[ItemType(variable.item_type)]
    return nb if language == "nb" else en


@trial_view(Perm.VIEW_TRIAL)
@require_GET
def dictionary(request: AuthenticatedHttpRequest, trial: Trial) -> HttpResponse:
    """Every variable of the trial: its instrument and version, label, type, kind, values."""
    language = "nb" if _nb() else "en"
    rows = [
        {
            "name": v.name,
            "instrument": v.instrument_code,
            "instrument_name": v.instrument_name.get(language),
            "version": v.instrument_version,
            "versions": ", ".join(str(n) for n in v.versions),
            "label": v.label.get(language),
            "type": _type_label(v, language),
            "kind": KIND_LABELS[v.kind],
            "unit": v.unit,
            "values": "; ".join(
                f"{code} = {text.get(language)}" for code, text in v.value_labels.items()
            ),
            "visits": ", ".join(v.visits),
            "current": v.current,
            "covariate": v.is_covariate,
        }
        for v in variables(trial)
    ]
    context = {
        "trial": trial,
        "rows": rows,
        "instruments": len({r["instrument"] for r in rows if not r["covariate"]}),
        "can_import": permissions.has_perm(request.user, trial, DEFINE),
    }
    return render(request, "instruments/dictionary/dictionary.html", context)


@trial_view(Perm.VIEW_TRIAL)
@require_GET
def download(request: AuthenticatedHttpRequest, trial: Trial) -> HttpResponse:
    """The dictionary as our CSV format (docs/import-formats.md, "Data dictionary files");
    audited."""
    dictionary = download_dictionary(trial, actor=request.user, via="web")
    response = HttpResponse(dictionary.content, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{dictionary.name}"'
    return response


class ImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("Dictionary file (CSV)"),
        help_text=gettext_lazy("UTF-8, comma or semicolon separated, at most 1 MB."),
    )
    file_format = forms.ChoiceField(
        label=gettext_lazy("Format"),
        choices=FORMAT_CHOICES,
        initial=OWN,
        widget=forms.RadioSelect,
        help_text=gettext_lazy(
            "REDCap's dictionary has one language: its labels are put in both English and "
            "Norwegian. Translate them on the instrument's page afterwards."
        ),
    )
    replace = forms.BooleanField(
        label=gettext_lazy("Remove the trial's instruments that are not in the file"),
        required=False,
        help_text=gettext_lazy(
            "As REDCap does when a dictionary is uploaded. An instrument with answers is never "
            "removed."
        ),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > files.MAX_FILE_BYTES:
            raise forms.ValidationError(
                _("The file is larger than %(mb)s MB.")
                % {"mb": files.MAX_FILE_BYTES // (1024 * 1024)}
            )
        return upload


def _problems(problems: list[Problem]) -> list[dict[str, Any]]:
    return [{"row": p.row, "column": p.column, "message": p.message} for p in problems]


def _preview_context(
    trial: Trial,
    file_format: str,
    *,
    result: ImportResult | None = None,
    error: DictionaryError | None = None,
) -> dict[str, Any]:
    changes = result.changes if result is not None else []
    warnings = result.warnings if result is not None else (error.warnings if error else [])
    return {
        "trial": trial,
        "file_format": file_format,
        "redcap": file_format == REDCAP,
        "changes": [
            {
                "code": c.code,
                "name": c.name_nb if _nb() and c.name_nb else (c.name_en or c.name_nb),
                "action": ACTION_LABELS[c.action],
                "unchanged": c.action == Action.UNCHANGED,
                "version": c.version,
                "variables": c.variables,
                "added": ", ".join(c.added),
                "removed": ", ".join(c.removed),
                "changed": ", ".join(c.changed),
                "visits": "" if c.visits is None else ", ".join(c.visits) or "–",
            }
            for c in changes
        ],
        "errors": _problems(error.problems) if error is not None else [],
        "warnings": _problems(warnings),
        "writes": result is not None and result.writes,
    }


@trial_view(DEFINE)
def import_page(request: AuthenticatedHttpRequest, trial: Trial) -> HttpResponse:
    """Upload a dictionary file; the page answers with what the import would do and every
    problem by row and column; confirming imports it, all or nothing."""
    if request.method == "POST" and "token" in request.POST:
        return _confirm(request, trial)
    form = ImportForm(request.POST, request.FILES) if request.method == "POST" else ImportForm()
    context: dict[str, Any] = {"trial": trial, "form": form}
    if request.method == "POST" and form.is_valid():
        content: bytes = form.cleaned_data["file"].read()
        file_format: str = form.cleaned_data["file_format"]
        replace: bool = form.cleaned_data["replace"]
        try:
            result = check_dictionary(trial, content, format=file_format, replace=replace)
        except DictionaryError as error:
            context |= _preview_context(trial, file_format, error=error)
        else:
            context |= _preview_context(trial, file_format, result=result)
            context["token"] = signing.dumps(
                {
                    "trial": trial.pk,
                    "format": file_format,
                    "replace": replace,
                    "content": files.decode(content),
                },
                salt=TOKEN_SALT,
                compress=True,
            )
        context["previewed"] = True
    return render(request, "instruments/dictionary/import.html", context)


def _confirm(request: AuthenticatedHttpRequest, trial: Trial) -> HttpResponse:
    try:
        data = signing.loads(request.POST["token"], salt=TOKEN_SALT, max_age=TOKEN_MAX_AGE)
    except signing.BadSignature:
        messages.error(request, _("The preview has expired: upload the file again."))
        return redirect("instruments_dictionary:import", trial.code)
    if not isinstance(data, dict) or data.get("trial") != trial.pk:
        messages.error(request, _("The preview has expired: upload the file again."))
        return redirect("instruments_dictionary:import", trial.code)
    try:
        result = import_dictionary(
            trial,
            str(data["content"]),
            format=str(data["format"]),
            actor=request.user,
            replace=bool(data["replace"]),
        )
    except DictionaryError as error:
        context = {"trial": trial, "form": ImportForm(), "previewed": True}
        context |= _preview_context(trial, str(data["format"]), error=error)
        return render(request, "instruments/dictionary/import.html", context)
    counts = {action: len(result.by_action(action)) for action in ACTION_LABELS}
    messages.success(
        request,
        _(
            "Dictionary imported: %(created)s instruments created, %(changed)s changed, "
            "%(versioned)s given a new version, %(removed)s removed, %(unchanged)s unchanged."
        )
        % {
            "created": counts[Action.CREATED],
            "changed": counts[Action.CHANGED],
            "versioned": counts[Action.NEW_VERSION],
            "removed": counts[Action.REMOVED],
            "unchanged": counts[Action.UNCHANGED],
        },
    )
    return redirect("instruments_dictionary:dictionary", trial.code)
