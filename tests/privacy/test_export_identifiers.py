"""The pseudonymised analysis data set (report kind "data") holds no direct identifiers: every
file in its ZIP, in every export format, is read (CSV, the R script and text as text, Parquet and
Stata through pandas, SPSS through pyreadstat) and searched for personal numbers, their hashes,
names, e-mail addresses and the free-text notes."""

from __future__ import annotations

import io
import re
import tempfile
import zipfile
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from demo.seed import seed_demo
from fidelity.models import Contact, Exposure
from reports import exports, pipeline
from trial import personal_numbers
from trial.demo import DEMO_TRIAL_CODE
from trial.models import LossToFollowUp, Participant, Trial, Withdrawal

EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
NOTES = {
    "contact": "Met Ola Nordmann at the café on Storgata 5",
    "exposure": "Heard about IPS from his cousin Kari",
    "withdrawal": "Moved in with his aunt in Tromsø",
    "loss": "Phone number 99887766 no longer in use",
}


def member_text(name: str, content: bytes) -> str:
    if name.endswith(".parquet"):
        frame = pd.read_parquet(io.BytesIO(content))
        return "\n".join([frame.to_csv(), repr(frame.attrs)])
    if name.endswith(".sav"):
        with tempfile.NamedTemporaryFile(suffix=".sav") as handle:
            handle.write(content)
            handle.flush()
            frame, meta = pyreadstat.read_sav(handle.name, user_missing=True)
        return "\n".join([frame.to_csv(), repr(meta.column_names_to_labels)])
    if name.endswith(".dta"):
        frame = pd.read_stata(io.BytesIO(content))
        return frame.to_csv()
    return content.decode("utf-8", errors="replace")


@pytest.mark.django_db
def test_the_data_set_holds_no_direct_identifiers(tmp_path: Path) -> None:
    seed_demo(participants=30, seed=7)
    trial = Trial.objects.get(code=DEMO_TRIAL_CODE)
    people = list(Participant.objects.filter(trial=trial))
    Contact.objects.filter(trial=trial, participant__isnull=False).update(note=NOTES["contact"])
    Exposure.objects.filter(trial=trial).update(note=NOTES["exposure"])
    Withdrawal.objects.filter(participant__trial=trial).update(reason=NOTES["withdrawal"])
    LossToFollowUp.objects.filter(participant__trial=trial).update(detail=NOTES["loss"])
    assert Contact.objects.filter(note=NOTES["contact"]).exists()

    spec = pipeline.BuildSpec(
        trial=trial,
        kind="data",
        cut_off=timezone.localdate(),
        seed=1,
        blinded=False,
        plan=pipeline.plan_in_force(trial),
        ordered_by="statistician",
        options=exports.check_options(formats=list(exports.FORMATS)).to_options(),
    )
    result = pipeline.build(spec, tmp_path)
    with zipfile.ZipFile(result.zip) as archive:
        texts = {name: member_text(name, archive.read(name)) for name in archive.namelist()}
    for extension in (".dta", ".sav", ".parquet", ".R"):
        assert any(name.endswith(extension) for name in texts), extension
    assert any(name.endswith(".csv") for name in texts)
    # The study ids are there (the data set is about these people), so the scan reads values.
    everything = "\n".join(texts.values())
    assert people[0].study_id in everything

    forbidden: dict[str, str] = {}
    for person in people:
        if person.personal_number_encrypted:
            number = personal_numbers.decrypt(person.personal_number_encrypted)
            forbidden[number] = f"personal number of {person.study_id}"
            forbidden[number[:6] + " " + number[6:]] = f"personal number of {person.study_id}"
            forbidden[person.personal_number_hash or ""] = f"hash of {person.study_id}"
    for user in get_user_model().objects.all():
        if user.get_full_name():
            forbidden[user.get_full_name()] = "a staff member's name"
        if user.email:
            forbidden[user.email] = "a staff member's e-mail address"
    for kind, note in NOTES.items():
        forbidden[note] = f"a {kind} note"
    assert len(forbidden) > len(people)
    found = [
        f"{name}: {why}"
        for name, text in texts.items()
        for value, why in forbidden.items()
        if value and value in text
    ]
    found += [f"{name}: e-mail address" for name, text in texts.items() if EMAIL.search(text)]
    for name, text in texts.items():
        if "personal_number" in text:
            found.append(f"{name}: a personal number column")
    assert not found, "\n".join(found)
