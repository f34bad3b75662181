"""Translation of user-facing text without making the analyses depend on Django.

``_`` marks a string for ``makemessages`` (its keyword list includes ``_``) and translates it
with Django's active language when Django is configured, so the report pipeline gets Norwegian
text; in a notebook without Django it returns the English text unchanged.
"""

from __future__ import annotations


def _(message: str) -> str:
    """Translate ``message`` into the active language if Django is set up, else return it."""
    try:
        from django.conf import settings

        if not settings.configured:
            return message
        from django.utils.translation import gettext

        return gettext(message)
    except ImportError:  # pragma: no cover - Django is always installed in this project
        return message
