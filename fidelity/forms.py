"""Form pieces the fidelity pages share: the date widget, the component choice, the client id
that makes a form's submission idempotent, and how a service's refusal is shown on a form.
Forms check the shape of the input; each sub-domain's services enforce the rules."""

from __future__ import annotations

import uuid

from django import forms

from fidelity.models import Component
from trial.services import TrialError

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
# The contact services name the participant; the contact form asks for the study id.
FORM_FIELD = {"participant": "study_id"}


class ComponentChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Component) -> str:
        return obj.name


def new_client_id() -> uuid.UUID:
    """A fresh id for the form, so that a double submission logs the contact once."""
    return uuid.uuid4()


def show_error(form: forms.BaseForm, error: TrialError) -> None:
    """Put a service's refusal next to the field it names, or above the form (also when the
    field is hidden, e.g. a client id, where it could not be seen)."""
    name = FORM_FIELD.get(error.field or "", error.field)
    shown = name in form.fields and not form.fields[name].widget.is_hidden
    form.add_error(name if shown else None, error.message)
