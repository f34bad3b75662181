"""The models of randomisation. Each sub-domain keeps its own in its subpackage
(``schemes/models.py``, ``allocation/models.py``, ``simulation/models.py``); they are imported
here because Django registers an app's models from its ``models`` module. The import of a whole
trial from CSV files, with its job model, is an app of its own (``trialimport``).
"""

from __future__ import annotations

from randomisation.allocation.models import (
    Allocation,
    AllocationFlag,
    ChainAnchor,
    FactorCount,
    Unblinding,
)
from randomisation.schemes.models import BlockSlot, Scheme
from randomisation.simulation.models import SimulationRun

__all__ = [
    "Allocation",
    "AllocationFlag",
    "BlockSlot",
    "ChainAnchor",
    "FactorCount",
    "Scheme",
    "SimulationRun",
    "Unblinding",
]
