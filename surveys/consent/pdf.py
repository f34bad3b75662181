"""The PDF snapshot of a confirmed consent: the text exactly as shown, its version and
language, the typed name and date, when it was recorded, and the SHA-256 of the text."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone, translation

from surveys.consent.models import ConsentRecord
from surveys.consent.text import Shown


def folder(trial_code: str) -> Path:
    return Path(settings.FILES_ROOT) / "consent" / trial_code


def path_of(record: ConsentRecord) -> Path:
    return folder(record.participant.trial.code) / record.pdf_file


def write(record: ConsentRecord, shown: Shown, *, typed_name: str) -> tuple[str, str]:
    """Render the record's PDF (in the language shown) and write it atomically under
    FILES_ROOT/consent/<trial>/; returns the file's name and its SHA-256."""
    from weasyprint import HTML

    with translation.override(shown.language):
        html = render_to_string(
            "surveys/consent/pdf.html",
            {
                "record": record,
                "trial": record.participant.trial,
                "shown": shown,
                "typed_name": typed_name,
                "recorded_at": timezone.localtime(record.recorded_at),
                "language": shown.language,
            },
        )
    content = HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf() or b""
    name = f"consent-{record.pk}.pdf"
    target = folder(record.participant.trial.code)
    target.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target, suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        Path(temporary).replace(target / name)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return name, hashlib.sha256(content).hexdigest()
