"""The error every trial rule raises; its own module so that ``trial.baseline`` and
``trial.services`` can both raise it (``trial.services`` names it too, where callers import it)."""

from __future__ import annotations


class TrialError(Exception):
    """A trial rule was broken; ``field`` names the input at fault, if any."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
