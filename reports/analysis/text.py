"""Translation and number formatting of user-facing text without making the analyses depend on
Django.

``_`` marks a string for ``makemessages`` (its keyword list includes ``_``) and translates it
with Django's active language when Django is configured, so the report pipeline gets Norwegian
text; in a notebook without Django it returns the English text unchanged.

:func:`number` and :func:`p_value` write numbers as the active language writes them (Django's
``number_format`` with grouping: "9 242,50" in bokmål, "9,242.50" in English); every number a
report prints, in a table, a sentence or on a figure's axis, goes through them so that one
report never mixes "4094.92" with "9 242". Negative numbers take the minus sign (−), as on
the figures' axes.
"""

from __future__ import annotations

import math

P_FLOOR = 0.001
"""p-values below this print as "< 0.001" (never as 0 or 0.000)."""


def _django_ready() -> bool:
    try:
        from django.conf import settings
    except ImportError:  # pragma: no cover - Django is always installed in this project
        return False
    return bool(settings.configured)


def _(message: str) -> str:
    """Translate ``message`` into the active language if Django is set up, else return it."""
    if not _django_ready():
        return message
    from django.utils.translation import gettext

    return gettext(message)


def number(value: float | int, decimals: int | None = None) -> str:
    """``value`` in the active language's format, thousands grouped, with ``decimals`` places
    (an integer keeps none when ``decimals`` is None; a float gets 2)."""
    if isinstance(value, bool):
        value = int(value)
    if decimals is None:
        decimals = 0 if isinstance(value, int) else 2
    if isinstance(value, float) and not math.isfinite(value):
        return "–"
    if _django_ready():
        from django.utils.formats import number_format

        text = number_format(round(value, decimals), decimals, use_l10n=True, force_grouping=True)
    else:
        text = f"{value:,.{decimals}f}"
    if text.startswith("-"):
        # "-0.00" reads as a negative number that is not there; a real one gets the minus
        # sign (U+2212) that the figures' axes use too.
        text = "\u2212" + text[1:] if any(c in "123456789" for c in text) else text[1:]
    return text


def p_value(p: float | None) -> str:
    """A p-value for readers: "< 0.001" below 0.001, else three decimals; "–" when None."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "–"
    if p < P_FLOOR:
        return f"< {number(P_FLOOR, 3)}"
    return number(min(float(p), 1.0), 3)
