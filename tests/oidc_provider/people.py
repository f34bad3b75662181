"""The provider's users and the claims it gives about them.

``ada`` signs in with a second factor (``amr`` holds ``mfa``, as Entra ID says it), ``bob``
with a password alone, and ``idun`` as at ID-porten: no name or e-mail address, ``amr`` a
single string, the level of assurance in ``acr``.
"""

from __future__ import annotations

from typing import Any

PASSWORD = "provider password 2026"  # noqa: S105 - the test provider's users' password

PEOPLE: dict[str, dict[str, Any]] = {
    "ada": {
        "given_name": "Ada",
        "family_name": "Lovelace",
        "preferred_username": "ada@example.org",
        "email": "ada@example.org",
        "email_verified": True,
        "amr": ["pwd", "mfa"],
    },
    "bob": {
        "given_name": "Bob",
        "family_name": "Hansen",
        "preferred_username": "bob@example.org",
        "email": "bob@example.org",
        "email_verified": True,
        "amr": ["pwd"],
    },
    "idun": {
        "amr": "BankID",
        "acr": "idporten-loa-high",
    },
}
