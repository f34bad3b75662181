"""Building blocks for the fidelity tests that several modules share."""

from __future__ import annotations

from fidelity.models import Component
from trial.models import Trial


def make_components(trial: Trial) -> dict[str, Component]:
    values = [
        ("rapid", "Rapid job search", True),
        ("jobdev", "Job development with employers", True),
        ("benefits", "Benefits counselling", False),
    ]
    return {
        code: Component.objects.create(
            trial=trial, code=code, name=name, intervention_specific=specific, order=i
        )
        for i, (code, name, specific) in enumerate(values)
    }
