"""The assessment listener: ``instruments.services.record_assessment`` tells the apps built on
``trial`` of every assessment it saves (``trial.extensions.assessment_recorded``, inside its
transaction), and a control participant's yes to the contamination question becomes an
exposure here. Registered in ``FidelityConfig.ready``; docs/decisions.md, "The assessment
listener", says why it is a hook and what it may do."""

from fidelity.contamination.services import record_assessment_exposure
from trial.extensions import register_assessment_listener

register_assessment_listener(record_assessment_exposure)
