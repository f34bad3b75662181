"""The form asking for a simulation: how many virtual trials of what size, and the planned mix
of each factor's levels."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _


class SimulationForm(forms.Form):
    """How many virtual trials of what size, and the planned mix of each factor's levels."""

    MAX_ALLOCATIONS = 2_000_000
    """Virtual trials × trial size: about 2–8 minutes of a worker's time."""

    n_trials = forms.IntegerField(
        label=_("Number of virtual trials"), min_value=10, max_value=10_000, initial=1000
    )
    trial_size = forms.IntegerField(
        label=_("Participants per trial"), min_value=2, max_value=20_000
    )

    def __init__(
        self,
        *args: Any,
        levels: dict[str, list[tuple[str, str]]],
        labels: dict[str, str],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.levels = levels
        self.mix_fields: list[tuple[str, list[str]]] = []
        for i, (factor, factor_levels) in enumerate(levels.items()):
            names = []
            share = Decimal(100) / len(factor_levels) if factor_levels else Decimal(0)
            for j, (_value, label) in enumerate(factor_levels):
                name = self.mix_name(i, j)
                self.fields[name] = forms.DecimalField(
                    label=label,
                    min_value=0,
                    max_value=100,
                    max_digits=5,
                    decimal_places=2,
                    initial=share.quantize(Decimal("0.01")),
                )
                names.append(name)
            self.mix_fields.append((labels.get(factor, factor), names))
        self.factor_names = {factor: labels.get(factor, factor) for factor in levels}

    @staticmethod
    def mix_name(factor_index: int, level_index: int) -> str:
        """Field names by position: level values may be any text."""
        return f"mix_{factor_index}_{level_index}"

    def mix_groups(self) -> list[dict[str, Any]]:
        return [
            {"legend": label, "fields": [self[name] for name in names]}
            for label, names in self.mix_fields
        ]

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean()  # type: ignore[assignment]  # the base returns cleaned_data
        n_trials, size = data.get("n_trials"), data.get("trial_size")
        if n_trials and size and n_trials * size > self.MAX_ALLOCATIONS:
            self.add_error(
                "n_trials",
                _(
                    "Virtual trials × participants may be at most %(max)s; choose fewer trials "
                    "or a smaller size."
                )
                % {"max": f"{self.MAX_ALLOCATIONS:,}".replace(",", " ")},
            )
        mix: dict[str, dict[str, float]] = {}
        for i, (factor, factor_levels) in enumerate(self.levels.items()):
            shares: dict[str, Any] = {
                value: data.get(self.mix_name(i, j))
                for j, (value, _label) in enumerate(factor_levels)
            }
            if any(share is None for share in shares.values()):
                continue
            total = sum(shares.values(), Decimal(0))
            if abs(total - 100) > Decimal("0.5"):
                self.add_error(
                    self.mix_name(i, 0),
                    _("The shares of %(factor)s add up to %(total)s %%, not 100 %%.")
                    % {"factor": self.factor_names[factor], "total": total},
                )
                continue
            # Rounded shares (33.33 × 3) are scaled to add up to exactly one.
            mix[factor] = {value: float(share / total) for value, share in shares.items()}
        data["strata_mix"] = mix
        return data
