"""The CONSORT flow diagram's counts, checked box by box against a hand-built trial."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pandas as pd

from reports.analysis.consort import box_texts, consort_counts, consort_figure


def screening() -> pd.DataFrame:
    # 12 assessed: 3 not eligible (2 age, 1 diagnosis), 2 declined, 7 eligible and willing,
    # of whom 6 were randomised (1 is "other reasons": enrolled, never randomised).
    rows = (
        [(False, False, "Too old", False)] * 2
        + [(False, False, "No mental illness", False)]
        + [(True, True, None, False)] * 2
        + [(True, False, None, True)] * 6
        + [(True, False, None, False)]
    )
    return pd.DataFrame(rows, columns=["eligible", "declined", "exclusion_reason", "randomised"])


def participants() -> pd.DataFrame:
    columns = [
        "study_id",
        "arm",
        "arm_label",
        "site",
        "status",
        "lost_reason",
        "withdrawal_reason",
        "received",
        "analysed",
    ]
    rows = [
        ("P1", "A", "IPS", "S1", "active", None, None, True, True),
        ("P2", "A", "IPS", "S1", "lost", "Cannot be reached", None, True, False),
        ("P3", "A", "IPS", "S2", "withdrawn", None, "Moved abroad", False, False),
        ("P4", "B", "Usual", "S3", "active", None, None, True, True),
        ("P5", "B", "Usual", "S3", "active", None, None, False, True),
        ("P6", "B", "Usual", "S4", "lost", "Died", None, True, False),
    ]
    return pd.DataFrame(rows, columns=columns)


def test_counts_match_the_hand_count() -> None:
    counts = consort_counts(screening(), participants())
    assert (counts.assessed, counts.excluded, counts.randomised) == (12, 6, 6)
    assert (counts.not_eligible, counts.declined, counts.other_reasons) == (3, 2, 1)
    assert counts.not_eligible_reasons == {"Too old": 2, "No mental illness": 1}
    a, b = counts.arms
    assert (a.code, a.allocated, a.received, a.not_received) == ("A", 3, 2, 1)
    assert (a.lost, a.lost_reasons, a.discontinued, a.discontinued_reasons) == (
        1,
        {"Cannot be reached": 1},
        1,
        {"Moved abroad": 1},
    )
    assert (a.analysed, a.not_analysed) == (1, 2)
    assert (b.allocated, b.received, b.lost, b.lost_reasons, b.analysed) == (
        3,
        2,
        1,
        {"Died": 1},
        2,
    )
    assert counts.cluster is False


def test_randomised_without_screening_records_still_adds_up() -> None:
    # An imported trial: 6 randomised, only the 5 refusals were logged.
    logged = screening()
    logged = logged[~logged["randomised"].astype(bool)]
    counts = consort_counts(logged, participants())
    assert counts.randomised == 6
    assert counts.excluded == counts.not_eligible + counts.declined + counts.other_reasons
    assert counts.assessed == counts.randomised + counts.excluded


def test_cluster_trial_reports_sites_and_mean_cluster_size() -> None:
    counts = consort_counts(screening(), participants(), design="cluster")
    a, b = counts.arms
    assert (a.sites_allocated, a.sites_analysed, a.mean_cluster_size) == (2, 1, 1.5)
    assert (b.sites_allocated, b.sites_analysed) == (2, 1)
    assert counts.sites_randomised == 4
    texts = box_texts(counts)
    assert "Sites: 2, mean 1.5 per site" in texts["allocation:A"]
    assert "Sites randomised: 4" in texts["randomised"]


def test_figure_is_valid_svg_with_every_box_and_a_table() -> None:
    figure = consort_figure(screening(), participants())
    root = ET.fromstring(figure.svg)  # noqa: S314 - our own output
    text = " ".join(node.text or "" for node in root.iter("{http://www.w3.org/2000/svg}text"))
    text = text.replace("\u00a0", " ")
    for expected in (
        "Assessed for eligibility (n = 12)",
        "Excluded (n = 6)",
        "Randomised (n = 6)",
        "Allocated to IPS (n = 3)",
        "Allocated to Usual (n = 3)",
        "Analysed (n = 1)",
        "Lost to follow-up (n = 1)",
        "Enrolment",
        "Analysis",
    ):
        assert expected in text
    table = figure.table.frame
    assert int(table.loc[table["item"] == "Randomised", "n"].iloc[0]) == 6
    assert table.loc[(table["arm"] == "Usual") & (table["item"] == "Analysed"), "n"].tolist() == [2]


def test_no_one_randomised_yet_draws_the_enrolment_boxes_only() -> None:
    empty = participants().iloc[0:0]
    counts = consort_counts(screening(), empty)
    assert counts.arms == [] and counts.randomised == 0 and counts.excluded == 12
    ET.fromstring(consort_figure(screening(), empty).svg)  # noqa: S314 - our own output
