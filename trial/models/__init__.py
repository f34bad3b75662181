"""Trials, their arms, sites and staff, participants, follow-up, and the audit trail.

One module per part (``trials``, ``participants``, ``follow_up``, ``audit_events``); Django
registers the app's models from this package, and the rest of the project imports them from
here (``from trial.models import Trial``).
"""

from trial.models.audit_events import AuditEvent
from trial.models.follow_up import (
    COMING_DUE_DAYS,
    ReminderDigest,
    Visit,
    VisitDefinition,
    VisitQuerySet,
)
from trial.models.participants import (
    CovariateDefinition,
    ExclusionReason,
    LossToFollowUp,
    Participant,
    ParticipantQuerySet,
    ScreeningRecord,
    Withdrawal,
)
from trial.models.trials import Arm, Membership, Site, SiteAssignment, Trial

__all__ = [
    "COMING_DUE_DAYS",
    "Arm",
    "AuditEvent",
    "CovariateDefinition",
    "ExclusionReason",
    "LossToFollowUp",
    "Membership",
    "Participant",
    "ParticipantQuerySet",
    "ReminderDigest",
    "ScreeningRecord",
    "Site",
    "SiteAssignment",
    "Trial",
    "Visit",
    "VisitDefinition",
    "VisitQuerySet",
    "Withdrawal",
]
