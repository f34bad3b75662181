"""templates/_field.html: a group of radios or checkboxes is a fieldset named by its legend,
with its help text and errors tied to it; any other field has a label for its control."""

from __future__ import annotations

import re

from django import forms
from django.template.loader import render_to_string


class ChoiceForm(forms.Form):
    mode = forms.ChoiceField(
        label="Mode",
        choices=[("phone", "Phone"), ("meeting", "Meeting")],
        widget=forms.RadioSelect,
        help_text="How you met.",
    )
    partners = forms.MultipleChoiceField(
        label="Partners",
        choices=[("employer", "Employer"), ("school", "School")],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    note = forms.CharField(label="Note", help_text="A few words.")


def field_html(form: forms.Form, name: str) -> str:
    return render_to_string("_field.html", {"field": form[name]})


def test_a_radio_group_is_a_fieldset_named_by_its_legend_with_its_help_text() -> None:
    html = field_html(ChoiceForm(), "mode")
    assert re.search(r'<fieldset class="field" aria-describedby="id_mode_helptext">', html)
    assert "<legend>Mode" in html
    assert 'id="id_mode_helptext"' in html
    assert '<label for="id_mode">' not in html  # no label for the group's wrapper
    assert '<label for="id_mode_0">' in html  # each radio keeps its own label


def test_a_group_with_errors_is_described_by_its_help_text_and_its_errors() -> None:
    form = ChoiceForm(data={"mode": "letter", "note": "x"})
    assert not form.is_valid()
    html = field_html(form, "mode")
    assert (
        '<fieldset class="field has-error" aria-describedby="id_mode_helptext id_mode_error">'
        in html
    )
    assert re.search(r'<ul class="errorlist" id="id_mode_error"><li>Select a valid choice', html)


def test_a_checkbox_group_without_help_text_is_described_by_its_errors_only() -> None:
    form = ChoiceForm(data={"mode": "phone", "partners": ["union"], "note": "x"})
    assert not form.is_valid()
    html = field_html(form, "partners")
    assert '<fieldset class="field has-error" aria-describedby="id_partners_error">' in html
    assert field_html(ChoiceForm(), "partners").strip().startswith('<fieldset class="field">')


def test_any_other_field_has_a_label_for_its_control_which_django_describes() -> None:
    form = ChoiceForm(data={"mode": "phone"})
    assert not form.is_valid()
    html = field_html(form, "note")
    assert "<fieldset" not in html
    assert '<label for="id_note">Note' in html
    assert 'aria-describedby="id_note_helptext id_note_error"' in html
    assert 'aria-invalid="true"' in html
