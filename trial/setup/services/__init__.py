"""Writes that configure a trial. Each service checks the rules, writes, and audits.

Once a trial has left set-up, anything the allocation sequence, the follow-up schedule or the
collected data depend on is locked; the ``TrialError`` says why. Edits that only relabel
(names, labels, descriptions) stay open.

One module per part of the set-up (``trials``, ``arms``, ``sites``, ``members``,
``eligibility``, ``visits``; what they share in ``common``). The package names every service,
so callers write ``from trial.setup import services`` and ``services.add_arm(...)``.
"""

from trial.setup.services.arms import add_arm, remove_arm, update_arm
from trial.setup.services.eligibility import (
    add_covariate,
    add_exclusion_reason,
    remove_covariate,
    remove_exclusion_reason,
    update_covariate,
    update_exclusion_reason,
)
from trial.setup.services.members import add_membership, remove_membership, update_membership
from trial.setup.services.sites import add_site, remove_site, update_site
from trial.setup.services.trials import (
    RESERVED_TRIAL_CODES,
    change_trial_status,
    create_trial,
    update_trial,
)
from trial.setup.services.visits import (
    add_visit_definition,
    remove_visit_definition,
    update_visit_definition,
)

__all__ = [
    "RESERVED_TRIAL_CODES",
    "add_arm",
    "add_covariate",
    "add_exclusion_reason",
    "add_membership",
    "add_site",
    "add_visit_definition",
    "change_trial_status",
    "create_trial",
    "remove_arm",
    "remove_covariate",
    "remove_exclusion_reason",
    "remove_membership",
    "remove_site",
    "remove_visit_definition",
    "update_arm",
    "update_covariate",
    "update_exclusion_reason",
    "update_membership",
    "update_site",
    "update_trial",
    "update_visit_definition",
]
