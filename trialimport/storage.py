"""Where a browser import's files wait between the check and the import (encrypted with the
field-encryption keys: they may hold personal numbers), and where a running step's progress is
kept (the cache: the rows are written inside a transaction the page's polls cannot see into)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings
from django.core.cache import cache


def folder() -> Path:
    return Path(settings.FILES_ROOT) / "imports"


def files_path(pk: int) -> Path:
    return folder() / f"import-{pk}.bin"


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in settings.FIELD_ENCRYPTION_KEYS])


def keep(pk: int, files: dict[str, bytes]) -> None:
    """Write the files, encrypted, atomically (a reader never sees half a file)."""
    payload = {name: base64.b64encode(data).decode() for name, data in files.items()}
    path = files_path(pk)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(_fernet().encrypt(json.dumps(payload).encode()))
    os.replace(temporary, path)


def read(pk: int) -> dict[str, bytes]:
    payload = json.loads(_fernet().decrypt(files_path(pk).read_bytes()))
    return {name: base64.b64decode(data) for name, data in payload.items()}


def progress_key(pk: int) -> str:
    # The key it had in ``randomisation``: a step running while the code is updated goes on.
    return f"randomisation:import-progress:{pk}"


def drop_files(pk: int) -> None:
    """Remove an import's kept files and its progress (it failed, expired or is done)."""
    files_path(pk).unlink(missing_ok=True)
    cache.delete(progress_key(pk))
