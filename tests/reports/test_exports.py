"""Exports statisticians use (issue 22, item 3): the data sets as SPSS, R and Parquet besides CSV
and Stata, all with the labels of the data dictionary, and de-identification on export.

Each format is opened in its own reader: pyreadstat for the .sav files, Rscript running the R
script, pandas and pyarrow for Parquet. The trial is the PHQ-9 trial of test_instrument_outcomes
(ordinal choices, yes/no, an unordered choice, a date, a multiple choice, free text and
missing-data codes, 40 participants at two visits).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyreadstat
import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from rest_framework.test import APIClient

from instruments.models import Assessment
from reports import exports, extract, file_formats, pipeline, services
from reports import variables as dictionary
from reports.models import ReportRequest
from reports.render import ColumnInfo
from tests.conftest import IN_CI
from tests.reports.conftest import CUT_OFF as RW_CUT_OFF
from tests.reports.conftest import ReportWorld
from tests.reports.phq import CUT_OFF, PhqWorld
from trial.models import AuditEvent

ALL = list(exports.FORMATS)
PLANTED = {
    # (study id, visit): free text a spreadsheet would run, or that R could misread.
    ("P01", "m0"): "=HYPERLINK(1)",
    ("P02", "m0"): "-not a number",
    ("P03", "m0"): "@SUM(1)",
    ("P04", "m0"): "-12",
    ("P05", "m0"): "'=kept as typed",
    ("P06", "m0"): "007",
    ("P07", "m0"): 'Line one\nline "two", æøå',
}
DATA_SETS = ("participants", "outcomes", "missed_visits", "time_to_work", "exposure")


def build(trial: Any, folder: Path, *, salt: str = "1", **export: Any) -> dict[str, bytes]:
    """The members of the ZIP of a "data" report with these export choices."""
    options = exports.check_options(**export).to_options()
    spec = pipeline.BuildSpec(
        trial=trial,
        kind="data",
        cut_off=CUT_OFF,
        seed=1,
        blinded=False,
        plan=None,
        options=options,
        export_salt=salt,
    )
    result = pipeline.build(spec, folder / f"build-{salt}-{len(list(folder.glob('*')))}")
    with zipfile.ZipFile(result.zip) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def expected(trial: Any) -> dict[str, dict[str, ColumnInfo]]:
    """What the pipeline knows of each column, from the data dictionary."""
    frames = pipeline.export_frames(extract.effect_data(trial, CUT_OFF), blinded=False)
    return pipeline.export_columns(trial, dictionary.variables(trial), frames)


def label(info: dict[str, ColumnInfo], column: str) -> str:
    found = info.get(column)
    return (found.label if found else "") or pipeline.COLUMN_LABELS.get(column, "")


def read_sav(content: bytes, **options: Any) -> tuple[pd.DataFrame, Any]:
    with tempfile.NamedTemporaryFile(suffix=".sav") as handle:
        handle.write(content)
        handle.flush()
        return pyreadstat.read_sav(handle.name, **options)


def csv(members: dict[str, bytes], name: str) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(members[f"{name}.csv"]), dtype=str, keep_default_na=False)


def plant(phq: PhqWorld) -> None:
    """Put the texts of PLANTED in the free-text item ``comment``."""
    for (study_id, visit), text in PLANTED.items():
        answer = Assessment.objects.get(
            visit__participant__study_id=study_id, visit__definition__code=visit
        )
        answer.values = {**answer.values, "comment": text}
        answer.save(update_fields=["values"])


# --- each format in its own reader ----------------------------------------------------------


def test_default_export_is_csv_and_stata_as_before(phq: PhqWorld, tmp_path: Path) -> None:
    members = build(phq.trial, tmp_path)
    data_files = {n for n in members if n.split(".")[0] in DATA_SETS}
    assert data_files == {f"{n}.{ext}" for n in DATA_SETS for ext in ("csv", "dta")}
    assert exports.R_SCRIPT not in members
    readme = members["README.txt"].decode()
    assert (
        "<name>.csv and <name>.dta (Stata 14+, format 118) hold the same data;\n"
        "data_dictionary.csv describes every column: label (English and bokmal), value\n"
    ) in readme
    assert "De-identified" not in readme
    meta = json.loads(members["report.json"])
    assert meta["options"] == {}  # nothing of the export choices when they are the defaults
    # A multiple choice is one 0/1 column per choice, in Stata as in the CSV.
    stata = pd.read_stata(io.BytesIO(members["outcomes.dta"]), convert_categoricals=False)
    table = csv(members, "outcomes")
    assert "support" not in stata.columns and "support" not in table.columns
    for column in ("support___nav", "support___gp"):
        assert list(stata[column].astype(int).astype(str)) == list(table[column])
    assert set(table["support___gp"]) == {"1"} and set(table["support___nav"]) == {"0", "1"}


def test_spss_file_has_variable_labels_value_labels_and_user_missing_codes(
    phq: PhqWorld, tmp_path: Path
) -> None:
    members = build(phq.trial, tmp_path, formats=["spss"])
    data_files = {n for n in members if n.split(".")[0] in DATA_SETS}
    assert data_files == {f"{n}.sav" for n in DATA_SETS}
    info = expected(phq.trial)
    frames = pipeline.export_frames(extract.effect_data(phq.trial, CUT_OFF), False)
    for name in DATA_SETS:
        frame, meta = read_sav(members[f"{name}.sav"])
        assert meta.file_label == name
        assert list(frame.columns) == [str(c) for c in frames[name].columns]
        labels = meta.column_names_to_labels
        assert {c: labels[c] for c in frame.columns} == {
            c: label(info[name], c) for c in frame.columns
        }, name
        assert all(labels.values()), name

    outcomes, meta = read_sav(members["outcomes.sav"], user_missing=True)
    values = meta.variable_value_labels
    refused, dont_know = "Refused to answer", "Don't know"
    assert values["phq1"] == {
        0: "Not at all",
        1: "Several days",
        2: "More than half the days",
        3: "Nearly every day",
        -99: refused,
        -98: dont_know,
    }
    assert values["smoker"] == {1: "Yes", 0: "No", -99: refused, -98: dont_know}
    assert values["living"] == {"alone": "Alone", "partner": "With a partner"}
    assert values["phq3_missing"] == {"refused": refused, "dont_know": dont_know}
    assert values["support___nav"] == {0: "Not chosen", 1: "Chosen"}  # one column per choice
    assert meta.missing_ranges["phq3"] == [{"lo": -99, "hi": -98}]
    assert meta.variable_measure["phq1"] == "ordinal"
    assert meta.variable_measure["living"] == "nominal"
    assert meta.variable_measure["phq9_total"] == "scale"
    # The answers given as a missing-data code hold the code's number, declared user-missing.
    coded = outcomes.loc[outcomes["phq3_missing"] == "refused"]
    assert len(coded) == 2 and set(coded["phq3"]) == {-99}
    assert set(outcomes.loc[outcomes["sick_days_missing"] == "dont_know", "sick_days"]) == {-98}
    # Read as SPSS treats user-missing values, the data are the CSV's.
    plain, _meta = read_sav(members["outcomes.sav"])
    assert plain.loc[coded.index, "phq3"].isna().all()
    reference = frames["outcomes"]
    assert list(plain["phq9_total"].fillna(-1)) == list(reference["phq9_total"].fillna(-1))
    assert list(plain["gp_visit"]) == list(reference["gp_visit"])
    assert list(plain["smoker"]) == [float(v) for v in reference["smoker"]]


def test_parquet_keeps_types_labels_and_dictionary_encoded_choices(
    phq: PhqWorld, tmp_path: Path
) -> None:
    members = build(phq.trial, tmp_path, formats=["parquet"])
    info = expected(phq.trial)
    frames = pipeline.export_frames(extract.effect_data(phq.trial, CUT_OFF), False)
    for name in DATA_SETS:
        schema = pq.read_schema(io.BytesIO(members[f"{name}.parquet"]))
        assert schema.metadata[b"data_set"] == name.encode()
        for field in schema:
            metadata = {k.decode(): v.decode() for k, v in (field.metadata or {}).items()}
            column = info[name].get(field.name)
            assert metadata["label"] == label(info[name], field.name), (name, field.name)
            if column is not None and column.values:
                assert json.loads(metadata["value_labels"]) == column.values
            if column is not None and column.missing:
                assert json.loads(metadata["missing_codes"]) == column.missing
        read = pd.read_parquet(io.BytesIO(members[f"{name}.parquet"]))
        assert list(read.columns) == [str(c) for c in frames[name].columns]
        assert read.attrs["labels"] == {
            c: label(info[name], c) for c in read.columns if label(info[name], c)
        }

    schema = pq.read_schema(io.BytesIO(members["outcomes.parquet"]))
    assert pa.types.is_dictionary(schema.field("living").type)
    assert pa.types.is_dictionary(schema.field("phq3_missing").type)
    assert pa.types.is_integer(schema.field("support___nav").type)  # 0/1 per choice
    assert schema.field("gp_visit").type == pa.date32()
    assert schema.field("smoker").type == pa.bool_()
    assert pd.read_parquet(io.BytesIO(members["participants.parquet"]))["withdrawn_on"].isna().all()
    assert (
        pq.read_schema(io.BytesIO(members["participants.parquet"])).field("withdrawn_on").type
        == pa.date32()
    )  # typed even without a value
    outcomes = pd.read_parquet(io.BytesIO(members["outcomes.parquet"]))
    reference = frames["outcomes"]
    assert list(outcomes["living"].cat.categories) == ["alone", "partner"]
    assert list(outcomes["living"].astype(str)) == list(reference["living"].astype(str))
    assert list(outcomes["phq1"]) == list(reference["phq1"])
    assert list(outcomes["gp_visit"]) == list(reference["gp_visit"])
    assert outcomes.attrs["value_labels"]["phq1"]["3"] == "Nearly every day"


@pytest.fixture(scope="session")
def rscript() -> str:
    path = shutil.which("Rscript")
    if path is None:
        message = "Rscript not found (install r-base-core)"
        if IN_CI:
            pytest.fail(f"{message}; CI=true requires the R export test to run", pytrace=False)
        pytest.skip(message)
    return path


R_DRIVER = r"""
source("load_data.R")
rows <- list()
for (set in names(trial_data)) {
  d <- trial_data[[set]]
  for (col in names(d)) {
    x <- d[[col]]
    got <- function(a) if (is.null(a)) NA_character_ else a
    rows[[length(rows) + 1]] <- data.frame(
      data_set = set, column = col, class = paste(class(x), collapse = " "),
      label = got(attr(x, "label")), label_nb = got(attr(x, "label_nb")),
      levels = if (is.factor(x)) paste(levels(x), collapse = "\x1f") else NA_character_,
      stringsAsFactors = FALSE)
  }
  utils::write.csv(d, paste0("read_", set, ".csv"), row.names = FALSE, na = "",
                   fileEncoding = "UTF-8")
}
utils::write.csv(do.call(rbind, rows), "labels.csv", row.names = FALSE, na = "",
                 fileEncoding = "UTF-8")
"""


def test_r_script_reads_the_data_with_labels_and_factor_levels(
    phq: PhqWorld, tmp_path: Path, rscript: str
) -> None:
    plant(phq)
    members = build(phq.trial, tmp_path, formats=["r"])
    assert not [n for n in members if n.endswith((".dta", ".sav", ".parquet"))]
    folder = tmp_path / "unpacked"
    folder.mkdir()
    for name, content in members.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    (folder / "driver.R").write_text(R_DRIVER)
    done = subprocess.run(
        [rscript, "--vanilla", "driver.R"],
        cwd=folder,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    seen = pd.read_csv(folder / "labels.csv", dtype=str, keep_default_na=False)
    seen = seen.set_index(["data_set", "column"])
    info = expected(phq.trial)
    frames = pipeline.export_frames(extract.effect_data(phq.trial, CUT_OFF), False)
    for name in DATA_SETS:
        for column in map(str, frames[name].columns):
            row = seen.loc[(name, column)]
            assert row["label"] == label(info[name], column), (name, column)
            column_info = info[name].get(column)
            if column_info is not None and column_info.label_nb:
                assert row["label_nb"] == column_info.label_nb
            factor = (name, f"{column}.factor")
            if column_info is not None and column_info.values and column_info.kind != "multi":
                assert seen.loc[factor, "levels"].split("\x1f") == list(
                    column_info.values.values()
                ), factor
                assert seen.loc[factor, "label"] == row["label"]
            else:
                assert factor not in seen.index, factor
    outcomes = seen.loc["outcomes"]
    assert outcomes.loc["phq1.factor", "class"] == "ordered factor"
    assert outcomes.loc["living.factor", "class"] == "factor"
    assert outcomes.loc["smoker.factor", "levels"] == "Yes\x1fNo"
    assert outcomes.loc["smoker", "class"] == "logical"
    assert outcomes.loc["gp_visit", "class"] == "Date"
    assert outcomes.loc["phq1", "class"] == "numeric"
    assert outcomes.loc["comment", "class"] == "character"
    assert outcomes.loc["phq9_total", "label_nb"] == "PHQ-9 totalskår"
    assert seen.loc[("participants", "withdrawn_on"), "class"] == "Date"

    # The values R read are the data's, free text exactly as typed.
    read = pd.read_csv(folder / "read_outcomes.csv", dtype=str, keep_default_na=False)
    for (study_id, visit), text in PLANTED.items():
        row = read[(read["study_id"] == study_id) & (read["visit"] == visit)]
        assert list(row["comment"]) == [text], (study_id, text)
    reference = pipeline.export_frames(extract.effect_data(phq.trial, CUT_OFF), False)["outcomes"]
    labels = {"alone": "Alone", "partner": "With a partner"}
    assert list(read["living.factor"]) == [labels[c] for c in reference["living"]]
    assert list(read["gp_visit"]) == [d.isoformat() for d in reference["gp_visit"]]
    assert list(read["phq3_missing.factor"]).count("Refused to answer") == 2


# --- de-identification ----------------------------------------------------------------------


def member_text(name: str, content: bytes) -> str:
    """Everything a file says, read by the format's own reader."""
    if name.endswith(".sav"):
        frame, meta = read_sav(content)
        return "\n".join(
            [frame.to_csv(), repr(meta.column_names_to_labels), repr(meta.variable_value_labels)]
        )
    if name.endswith(".parquet"):
        schema = pq.read_schema(io.BytesIO(content))
        frame = pd.read_parquet(io.BytesIO(content))
        return "\n".join([frame.to_csv(), repr(schema.metadata), str(schema)])
    if name.endswith(".dta"):
        return pd.read_stata(io.BytesIO(content), convert_categoricals=False).to_csv()
    return content.decode()


def test_free_text_items_are_left_out_only_when_asked(phq: PhqWorld, tmp_path: Path) -> None:
    plant(phq)
    kept = build(phq.trial, tmp_path, formats=ALL)
    assert "comment" in csv(kept, "outcomes").columns
    assert "=HYPERLINK(1)" in member_text("outcomes.parquet", kept["outcomes.parquet"])

    members = build(phq.trial, tmp_path, formats=ALL, drop_free_text=True)
    texts = {name: member_text(name, content) for name, content in members.items()}
    found = [
        f"{name}: {text!r}"
        for name, content in texts.items()
        for text in ["HYPERLINK", "not a number", "kept as typed", "Line one"]
        if text in content
    ]
    assert not found
    assert "comment" not in csv(members, "outcomes").columns
    assert '"comment"' not in texts[exports.R_SCRIPT]
    dictionary_rows = csv(members, "data_dictionary")
    assert "comment" not in set(dictionary_rows["column"])
    # Everything else is still there: coded answers, dates, scores.
    assert {"living", "support___nav", "gp_visit", "phq9_total"} <= set(csv(members, "outcomes"))
    assert "free-text items were left out" in texts["README.txt"]


def dates_by_participant(members: dict[str, bytes]) -> dict[str, pd.DataFrame]:
    out = {}
    for name in DATA_SETS:
        frame = csv(members, name)
        columns = [c for c in frame.columns if c.endswith("_on") or c == "gp_visit"]
        out[name] = frame[["study_id", *columns]]
    return out


def test_dates_shift_by_one_offset_per_participant(phq: PhqWorld, tmp_path: Path) -> None:
    plain = dates_by_participant(build(phq.trial, tmp_path))
    shifted_members = build(phq.trial, tmp_path, date_shift_days=180)
    shifted = dates_by_participant(shifted_members)
    offsets: dict[str, set[int]] = {}
    compared = 0
    for name in DATA_SETS:
        before, after = plain[name], shifted[name]
        assert list(before["study_id"]) == list(after["study_id"])  # ids kept
        for column in before.columns[1:]:
            for study_id, a, b in zip(
                before["study_id"], before[column], after[column], strict=True
            ):
                if not a:
                    assert not b
                    continue
                days = (dt.date.fromisoformat(b) - dt.date.fromisoformat(a)).days
                offsets.setdefault(study_id, set()).add(days)
                compared += 1
    assert compared > 150  # randomisation, assessments, the date item, a missed visit
    assert all(len(days) == 1 for days in offsets.values()), offsets  # one per participant
    every = [next(iter(days)) for days in offsets.values()]
    assert all(1 <= abs(d) <= 180 for d in every)
    assert len(set(every)) > 10  # differs between participants
    # So intervals within a participant are kept, and nothing else moved.
    a = csv(build(phq.trial, tmp_path), "outcomes")
    b = csv(shifted_members, "outcomes")
    for column in ("offset_months", "phq9_total", "living", "visit"):
        assert list(a[column]) == list(b[column])
    time_to_work = csv(shifted_members, "time_to_work")
    assert list(time_to_work["months"]) == list(
        csv(build(phq.trial, tmp_path), "time_to_work")["months"]
    )
    # Study ids kept: every export of the trial shifts a participant's dates alike.
    again = dates_by_participant(build(phq.trial, tmp_path, salt="2", date_shift_days=180))
    assert again["outcomes"].equals(shifted["outcomes"])


def study_ids(members: dict[str, bytes]) -> set[str]:
    return set(csv(members, "participants")["study_id"])


def test_hashed_study_ids_are_keyed_and_do_not_link_exports_unless_chosen(
    phq: PhqWorld, tmp_path: Path
) -> None:
    originals = {p.study_id for p in phq.people}
    first = build(phq.trial, tmp_path, salt="a", formats=ALL, hash_study_ids="export")
    ids = study_ids(first)
    assert len(ids) == 40 and all(re.fullmatch(r"[0-9a-f]{16}", i) for i in ids)
    # The same participant has the same pseudonym in every data set of the export ...
    for name in ("outcomes", "missed_visits", "time_to_work", "exposure"):
        assert set(csv(first, name)["study_id"]) <= ids, name
    # ... no study id is left in any file ...
    texts = {name: member_text(name, content) for name, content in first.items()}
    left = [f"{n}: {i}" for n, t in texts.items() for i in originals if re.search(rf"\b{i}\b", t)]
    assert not left
    dictionary_rows = csv(first, "data_dictionary").set_index(["data_set", "column"])
    assert dictionary_rows.loc[("participants", "study_id"), "label"].startswith("Pseudonym")
    # ... and a rebuild of the same order gives the same file.
    assert (
        build(phq.trial, tmp_path, salt="a", hash_study_ids="export")["participants.csv"]
        == (first["participants.csv"])
    )
    # Another export does not link to this one ...
    assert not study_ids(build(phq.trial, tmp_path, salt="b", hash_study_ids="export")) & ids
    # ... unless both chose the trial's linked pseudonyms.
    linked = study_ids(build(phq.trial, tmp_path, salt="a", hash_study_ids="trial"))
    assert linked == study_ids(build(phq.trial, tmp_path, salt="b", hash_study_ids="trial"))
    assert not linked & ids
    # Not reversible without the key: no plain hash of a study id gives a pseudonym, and the
    # same export under another server key gives others.
    plain = {
        getattr(hashlib, algorithm)(i.encode()).hexdigest()[:16]
        for i in originals
        for algorithm in ("md5", "sha1", "sha256", "blake2b")
    }
    assert not plain & (ids | linked)
    with override_settings(PERSONAL_NUMBER_HASH_KEY="another-key-0123456789abcdef"):
        other = study_ids(build(phq.trial, tmp_path, salt="a", hash_study_ids="trial"))
    assert not other & linked


def test_readme_and_manifest_record_the_choices_never_the_offsets(
    phq: PhqWorld, tmp_path: Path
) -> None:
    members = build(
        phq.trial,
        tmp_path,
        formats=["spss", "r"],
        drop_free_text=True,
        date_shift_days=90,
        hash_study_ids="export",
    )
    readme = " ".join(members["README.txt"].decode().split())
    assert "<name>.sav (SPSS" in readme and "load_data.R" in readme
    assert "1 to 90 earlier or later" in readme
    assert "keyed hash (HMAC-SHA256) used for this export only" in readme
    meta = json.loads(members["report.json"])
    assert meta["options"]["formats"] == ["spss", "r"]
    assert meta["options"]["deidentify"] == {
        "drop_free_text": True,
        "date_shift_days": 90,
        "hash_study_ids": "export",
    }
    # Neither file names a participant, so neither can hold an offset or a pseudonym's key.
    pseudonyms = study_ids(members)
    for text in (readme, members["report.json"].decode()):
        assert not [i for i in pseudonyms if i in text]
        assert "offset" not in text.replace("offsets are recorded nowhere", "")


# --- ordering, on the page and through the API; the audit trail ------------------------------

BASE = "/trials/ips/reports/"
API = "/api/v1/trials/ips/reports/"


@pytest.fixture
def built_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """Builds are not sent to a broker; the test runs them with execute_report."""
    monkeypatch.setattr(services, "enqueue", lambda report_id: None)


@pytest.mark.parametrize(
    ("choice", "field"),
    [
        ({"formats": ["sav"]}, "formats"),
        ({"formats": []}, "formats"),
        ({"formats": "spss"}, "formats"),
        ({"formats": [["spss"]]}, "formats"),
        ({"formats": ["spss"] * 6}, "formats"),
        ({"date_shift_days": -1}, "date_shift_days"),
        ({"date_shift_days": exports.DATE_SHIFT_MAX + 1}, "date_shift_days"),
        ({"date_shift_days": "a lot"}, "date_shift_days"),
        ({"date_shift_days": 1.5}, "date_shift_days"),
        ({"hash_study_ids": "md5"}, "hash_study_ids"),
        ({"hash_study_ids": None}, "hash_study_ids"),
        ({"drop_free_text": "perhaps"}, "drop_free_text"),
    ],
)
def test_api_refuses_bad_export_choices_with_a_field_error(
    rworld: ReportWorld, built_here: None, choice: dict[str, Any], field: str
) -> None:
    api = APIClient()
    api.force_authenticate(rworld.world.users["statistician"])
    answer = api.post(API, {"kind": "data", "cut_off": RW_CUT_OFF.isoformat(), **choice}, "json")
    assert answer.status_code == 400, answer.content
    assert field in answer.json()["errors"], answer.json()
    assert not ReportRequest.objects.exists()


def test_the_service_refuses_what_the_forms_would_never_send(rworld: ReportWorld) -> None:
    statistician = rworld.world.users["statistician"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"formats": ["csv", "xlsx"]}, "formats"),
        ({"formats": []}, "formats"),
        ({"date_shift_days": 99999}, "date_shift_days"),
        ({"hash_study_ids": "sha1"}, "hash_study_ids"),
    ]
    for export, field in cases:
        with pytest.raises(exports.ExportOptionsError) as refused:
            services.request_report(
                rworld.trial, kind="data", cut_off=RW_CUT_OFF, export=export, actor=statistician
            )
        assert refused.value.field == field
    assert not ReportRequest.objects.exists()


def test_api_order_records_the_export_choices_and_the_download_is_audited(
    rworld: ReportWorld, built_here: None
) -> None:
    api = APIClient()
    api.force_authenticate(rworld.world.users["statistician"])
    choice = {
        "formats": ["parquet", "spss", "spss"],
        "drop_free_text": True,
        "date_shift_days": 30,
        "hash_study_ids": "export",
    }
    answer = api.post(API, {"kind": "data", "cut_off": RW_CUT_OFF.isoformat(), **choice}, "json")
    assert answer.status_code == 201, answer.content
    body = answer.json()
    deidentify = {"drop_free_text": True, "date_shift_days": 30, "hash_study_ids": "export"}
    assert body["formats"] == ["spss", "parquet"]  # one order, each once
    assert body["deidentify"] == deidentify
    assert body["options"]["deidentify"] == deidentify
    ordered = AuditEvent.objects.get(action="report.requested")
    assert ordered.data["formats"] == ["spss", "parquet"]
    assert ordered.data["deidentify"] == deidentify

    assert services.execute_report(body["id"]) == "done"
    link = api.get(f"{API}{body['id']}/").json()["files"]["zip"]
    response = rworld.world.client("statistician").get(link)
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.getvalue())) as archive:
        names = set(archive.namelist())
    assert {"participants.sav", "participants.parquet"} <= names
    assert not {"participants.csv", "participants.dta", exports.R_SCRIPT} & names
    downloaded = AuditEvent.objects.get(action="report.downloaded")
    assert downloaded.actor_name == "statistician"
    assert downloaded.data["file"] == "zip"
    assert downloaded.data["formats"] == ["spss", "parquet"]
    assert downloaded.data["deidentify"] == deidentify
    # The coordinator reads it on the downloads page.
    page = rworld.world.client("coordinator").get("/trials/ips/report-downloads/")
    text = page.content.decode()
    assert "SPSS (.sav), Parquet" in text
    assert "dates shifted by up to 30 days per participant" in text
    assert "study ids hashed for this export only" in text


def test_page_offers_formats_and_deidentification_and_shows_field_errors(
    rworld: ReportWorld, built_here: None
) -> None:
    client = rworld.world.client("statistician")
    page = client.get(BASE).content.decode()
    for value in exports.FORMATS:
        assert f'value="{value}"' in page
    assert 'name="date_shift_days"' in page and 'name="hash_study_ids"' in page
    form = {"kind": "data", "cut_off": RW_CUT_OFF.isoformat(), "hash_study_ids": "none"}
    for bad, message in (
        ({"formats": "xlsx"}, "Select a valid choice"),
        ({"formats": "spss", "date_shift_days": "99999"}, "less than or equal to 3650"),
        ({"formats": "spss", "date_shift_days": "-3"}, "greater than or equal to 0"),
        ({"formats": "spss", "hash_study_ids": "md5"}, "Select a valid choice"),
    ):
        answer = client.post(BASE, {**form, **bad})
        assert answer.status_code == 200, bad
        assert message in answer.content.decode(), bad
    assert not ReportRequest.objects.exists()
    answer = client.post(
        BASE,
        {
            **form,
            "formats": ["csv", "r"],
            "drop_free_text": "on",
            "date_shift_days": "14",
            "hash_study_ids": "trial",
        },
    )
    assert answer.status_code == 302
    report = ReportRequest.objects.get()
    assert report.options["formats"] == ["csv", "r"]
    assert report.options["deidentify"] == {
        "drop_free_text": True,
        "date_shift_days": 14,
        "hash_study_ids": "trial",
    }
    detail = client.get(f"{BASE}{report.pk}/").content.decode()
    assert "R (the CSV files and a script that applies the labels)" in detail
    assert "study ids hashed, linked across the trial&#x27;s exports" in detail
    # The defaults, or nothing ticked (as a form from before sends), order what was always
    # ordered.
    for defaults in ({**form, "formats": ["csv", "stata"]}, form):
        assert client.post(BASE, defaults).status_code == 302
        latest = ReportRequest.objects.latest("pk")
        assert latest.options == {"seed": latest.seed}


def test_the_command_writes_the_formats_asked_for_and_is_audited(
    rworld: ReportWorld, tmp_path: Path
) -> None:
    call_command(
        "build_report",
        "ips",
        "--kind",
        "data",
        "--out",
        str(tmp_path),
        "--cut-off",
        RW_CUT_OFF.isoformat(),
        "--format",
        "spss",
        "--format",
        "parquet",
        "--shift-dates",
        "20",
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    with zipfile.ZipFile(next(tmp_path.glob("*.zip"))) as archive:
        names = set(archive.namelist())
    assert {"outcomes.sav", "outcomes.parquet"} <= names and "outcomes.dta" not in names
    event = AuditEvent.objects.get(action="report.built_by_command")
    assert event.actor_name == "system" and event.trial == rworld.trial
    assert event.data["formats"] == ["spss", "parquet"]
    assert event.data["deidentify"]["date_shift_days"] == 20
    page = rworld.world.client("coordinator").get("/trials/ips/report-downloads/")
    text = page.content.decode()
    assert "built with manage.py build_report" in text and "SPSS (.sav), Parquet" in text
    assert RW_CUT_OFF.isoformat() in text
    with pytest.raises(CommandError, match="0 to 3650"):
        call_command(
            "build_report",
            "ips",
            "--out",
            str(tmp_path),
            "--shift-dates",
            "-5",
            stderr=io.StringIO(),
        )


def test_the_choices_read_in_norwegian(rworld: ReportWorld, built_here: None) -> None:
    client = rworld.world.client("statistician")
    page = client.get(BASE, HTTP_ACCEPT_LANGUAGE="nb").content.decode()
    for text in ("Filer for datasettene", "Utelat fritekstspørsmål", "Behold studie-ID-ene"):
        assert text in page
    answer = client.post(
        BASE,
        {
            "kind": "data",
            "cut_off": RW_CUT_OFF.isoformat(),
            "formats": "spss",
            "date_shift_days": "9999",
        },
        HTTP_ACCEPT_LANGUAGE="nb",
    )
    assert "mindre enn eller lik 3650" in answer.content.decode()
    report = services.request_report(
        rworld.trial,
        kind="data",
        cut_off=RW_CUT_OFF,
        export={"formats": ["spss"], "date_shift_days": 7, "drop_free_text": True},
        actor=rworld.world.users["statistician"],
    )
    detail = client.get(f"{BASE}{report.pk}/", HTTP_ACCEPT_LANGUAGE="nb").content.decode()
    assert "Avidentifisering" in detail
    assert "fritekstspørsmål utelatt; datoer forskjøvet med inntil 7 dager per deltaker" in detail


def test_labels_cannot_break_out_of_the_r_script(tmp_path: Path, rscript: str) -> None:
    nasty = 'x"); file.create("pwned") # \\" \r\nfile.create("pwned2")\n# æøå \U0001d6fc'
    frame = pd.DataFrame({"study_id": ["a", "b"], "living": ["alone", "partner"]})
    info = {"living": ColumnInfo(label=nasty, values={"alone": nasty, "partner": "Partner"})}
    script = file_formats.r_script('ips\r\nfile.create("pwned3")', {"d": frame}, {"d": info})
    assert script.isascii()
    (tmp_path / "load_data.R").write_text(script)
    frame.to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "driver.R").write_text(
        'source("load_data.R")\n'
        "x <- trial_data$d$living\n"
        'writeLines(c(attr(x, "label"), levels(trial_data$d$living.factor)), "out.txt",'
        " useBytes = TRUE)\n"
    )
    done = subprocess.run(
        [rscript, "--vanilla", "driver.R"], cwd=tmp_path, capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    assert not list(tmp_path.glob("pwned*"))
    read = (tmp_path / "out.txt").read_bytes().decode()
    assert read == f"{nasty}\n{nasty}\nPartner\n"


def test_every_format_and_choice_works_for_a_trial_without_data(
    world: Any, tmp_path: Path, rscript: str
) -> None:
    members = build(
        world.trial,
        tmp_path,
        formats=ALL,
        drop_free_text=True,
        date_shift_days=5,
        hash_study_ids="trial",
    )
    for name in DATA_SETS[:-1]:
        assert read_sav(members[f"{name}.sav"])[0].empty
        assert pd.read_parquet(io.BytesIO(members[f"{name}.parquet"])).empty
    for name, content in members.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)
    done = subprocess.run(
        [
            rscript,
            "--vanilla",
            "-e",
            'source("load_data.R"); stopifnot(nrow(trial_data[[1]]) == 0)',
        ],
        cwd=tmp_path,
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
