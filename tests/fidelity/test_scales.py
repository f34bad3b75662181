"""Fidelity scales and reviews: the IPS template, computed totals and bands, scoring rules,
versioning of used scales, audit, permissions, pages and the API."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from fidelity.models import ConsensusScore, Review, ReviewerScore, Scale
from fidelity.reviews import services as review_services
from fidelity.reviews.figures import review_view
from fidelity.reviews.trends import site_trends
from fidelity.scales import services as scales
from fidelity.scales.scoring import summarise
from tests import factories
from tests.conftest import World
from trial.models import AuditEvent, Membership

DAY = dt.date(2025, 5, 20)


@pytest.fixture
def ips(world: World) -> Scale:
    return scales.add_template_scale(world.trial, actor=world.users["coordinator"])


@pytest.fixture
def second_reviewer(world: World) -> Any:
    user = factories.make_user("reviewer2", first_name="Berit", last_name="Bedømmer")
    factories.make_membership(user, world.trial, Membership.Role.FIDELITY_REVIEWER)
    return user


@pytest.fixture
def review(world: World, ips: Scale, second_reviewer: Any) -> Review:
    return review_services.create_review(
        world.trial,
        actor=world.users["coordinator"],
        site=world.sites[0],
        scale=ips,
        review_date=DAY,
        reviewers=[world.users["reviewer"], second_reviewer],
    )


def all_items(score: int) -> dict[int, int]:
    return dict.fromkeys(range(1, 26), score)


def with_total(total: int) -> dict[int, int]:
    """IPS scores adding up to ``total`` (25..125): items raised from 1 in number order."""
    scores = all_items(1)
    extra = total - 25
    for number in range(1, 26):
        step = min(4, extra)
        scores[number] += step
        extra -= step
    assert sum(scores.values()) == total
    return scores


# The template


def test_ips_template_has_25_items_in_three_sections(ips: Scale) -> None:
    items = list(ips.items.all())
    assert len(items) == 25
    assert [i.number for i in items] == list(range(1, 26))
    sections = summarise(ips, items, {}).sections
    assert [(s.name, s.items, s.minimum, s.maximum) for s in sections] == [
        ("Staffing", 3, 3, 15),
        ("Organisation", 8, 8, 40),
        ("Services", 14, 14, 70),
    ]
    assert all(set(i.anchors) == {"1", "2", "3", "4", "5"} for i in items)
    assert ips.bands == [
        {"min": 115, "max": 125, "label": "Exemplary fidelity"},
        {"min": 100, "max": 114, "label": "Good fidelity"},
        {"min": 74, "max": 99, "label": "Fair fidelity"},
        {"min": 25, "max": 73, "label": "Not supported employment"},
    ]
    assert "paraphrase" in ips.notes
    assert ips.template == "ips25"


def test_adding_the_template_twice_is_refused(world: World, ips: Scale) -> None:
    with pytest.raises(scales.ScaleError):
        scales.add_template_scale(world.trial, actor=world.users["coordinator"])
    assert Scale.objects.filter(trial=world.trial).count() == 1


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (125, "Exemplary fidelity"),
        (115, "Exemplary fidelity"),
        (114, "Good fidelity"),
        (100, "Good fidelity"),
        (99, "Fair fidelity"),
        (74, "Fair fidelity"),
        (73, "Not supported employment"),
        (25, "Not supported employment"),
    ],
)
def test_ips_bands_at_their_cut_offs(ips: Scale, total: int, band: str) -> None:
    summary = summarise(ips, list(ips.items.all()), with_total(total))
    assert summary.total == total
    assert summary.band == band


def test_section_subtotals_and_total(ips: Scale) -> None:
    # Staffing 5+4+3 = 12; Organisation 8 x 4 = 32; Services 14 x 3 = 42; total 86: fair.
    scores = {1: 5, 2: 4, 3: 3} | dict.fromkeys(range(4, 12), 4) | dict.fromkeys(range(12, 26), 3)
    summary = summarise(ips, list(ips.items.all()), scores)
    assert [s.total for s in summary.sections] == [12, 32, 42]
    assert (summary.total, summary.band, summary.minimum, summary.maximum) == (
        86,
        "Fair fidelity",
        25,
        125,
    )


def test_incomplete_scores_have_no_total_or_band(ips: Scale) -> None:
    scores = all_items(5)
    del scores[25]
    summary = summarise(ips, list(ips.items.all()), scores)
    assert summary.total is None and summary.band is None
    assert summary.scored == 24
    assert summary.sections[2].total == 13 * 5


# Scoring rules


def test_missing_and_out_of_range_items_are_refused_and_nothing_is_saved(
    world: World, review: Review
) -> None:
    scores: dict[Any, Any] = all_items(4)
    del scores[7]
    scores[3] = 6
    scores[12] = "x"
    with pytest.raises(scales.ScaleError) as refused:
        review_services.submit_scores(review, actor=world.users["reviewer"], scores=scores)
    assert refused.value.errors == {
        3: "Choose a level from 1 to 5.",
        7: "Score this item.",
        12: "A score is a whole number.",
    }
    assert not ReviewerScore.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="review.scored").exists()


def test_unknown_items_are_refused(world: World, review: Review) -> None:
    with pytest.raises(scales.ScaleError, match="Unknown items: 26"):
        review_services.submit_scores(
            review, actor=world.users["reviewer"], scores=all_items(3) | {26: 3}
        )


def test_only_the_reviews_reviewers_may_score(world: World, review: Review) -> None:
    with pytest.raises(scales.ScaleError, match="not a reviewer"):
        review_services.submit_scores(review, actor=world.users["coordinator"], scores=all_items(3))


def test_review_moves_through_its_statuses(
    world: World, review: Review, second_reviewer: Any
) -> None:
    reviewer = world.users["reviewer"]
    review_services.submit_scores(review, actor=reviewer, scores=all_items(4))
    review.refresh_from_db()
    assert review.status == Review.Status.DRAFT
    with pytest.raises(scales.ScaleError):
        review_services.record_consensus(review, actor=reviewer, scores=all_items(4))
    review_services.submit_scores(review, actor=second_reviewer, scores=all_items(4) | {1: 5})
    review.refresh_from_db()
    assert review.status == Review.Status.SCORED
    # A reviewer may still correct their scores; the change is audited with before/after.
    review_services.submit_scores(review, actor=reviewer, scores=all_items(4) | {2: 3})
    event = AuditEvent.objects.filter(action="review.rescored").get()
    assert event.data["scores"] == {"2": [4, 3]}
    review_services.record_consensus(review, actor=reviewer, scores=all_items(4))
    review.refresh_from_db()
    assert review.status == Review.Status.CONSENSUS
    event = AuditEvent.objects.filter(action="review.consensus").get()
    assert (event.data["total"], event.data["band"]) == (100, "Good fidelity")
    assert event.trial == world.trial
    with pytest.raises(scales.ScaleError, match="consensus is recorded"):
        review_services.submit_scores(review, actor=reviewer, scores=all_items(5))
    review_services.finalise_review(review, actor=reviewer)
    review.refresh_from_db()
    assert review.status == Review.Status.FINALISED
    with pytest.raises(scales.ScaleError):
        review_services.record_consensus(review, actor=reviewer, scores=all_items(5))
    assert ConsensusScore.objects.filter(review=review, score=4).count() == 25


def test_review_view_totals_agreement_and_consensus_proposal(
    world: World, review: Review, second_reviewer: Any
) -> None:
    first = all_items(4) | {1: 5, 2: 2}
    second = all_items(4) | {1: 5, 2: 3, 3: 2}
    review_services.submit_scores(review, actor=world.users["reviewer"], scores=first)
    review_services.submit_scores(review, actor=second_reviewer, scores=second)
    view = review_view(review)
    totals = {c.name: (c.summary.total, c.summary.band) for c in view.reviewers}
    # reviewer: 22 x 4 + 5 + 2 + 4 = 99; reviewer2: 22 x 4 + 5 + 3 + 2 = 98.
    assert totals == {"reviewer": (99, "Fair fidelity"), "Berit Bedømmer": (98, "Fair fidelity")}
    assert view.agreement.exact == pytest.approx(23 / 25)
    assert view.agreement.within_one == pytest.approx(24 / 25)
    # Item 2: median of 2 and 3 is no level, so the reviewers must choose; item 3: median 3.
    assert 2 not in view.proposal
    assert view.proposal[3] == 3
    assert view.proposal[1] == 5


def test_reviewers_must_hold_the_review_right(world: World, ips: Scale) -> None:
    with pytest.raises(scales.ScaleError, match="fidelity reviewer"):
        review_services.create_review(
            world.trial,
            actor=world.users["coordinator"],
            site=world.sites[0],
            scale=ips,
            review_date=DAY,
            reviewers=[world.users["caseworker"]],
        )


# Versions


def test_editing_a_used_scale_makes_a_new_version(world: World, ips: Scale, review: Review) -> None:
    coordinator = world.users["coordinator"]
    item = ips.items.get(number=1)
    saved, is_new = scales.save_item(
        ips,
        actor=coordinator,
        item=item,
        number=1,
        section="Staffing",
        title="Caseload size (NAV)",
        description="",
        anchors={1: "a", 2: "b", 3: "c", 4: "d", 5: "e"},
    )
    assert is_new
    assert saved.scale != ips
    assert saved.scale.previous == ips
    assert saved.scale.version == f"{ips.version} rev. 2"
    assert saved.scale.items.count() == 25
    assert ips.items.get(number=1).title == "Caseload size"
    review.refresh_from_db()
    assert review.scale == ips
    changed, is_new = scales.update_scale(
        ips,
        actor=coordinator,
        name=ips.name,
        version="NAV 2026",
        source="",
        notes="",
        min_level=1,
        max_level=5,
        bands=[{"min": 100, "max": 125, "label": "Good or better"}],
    )
    assert is_new and changed.version == "NAV 2026"
    ips.refresh_from_db()
    assert len(ips.bands) == 4


def test_editing_an_unused_scale_changes_it_in_place(world: World, ips: Scale) -> None:
    changed, is_new = scales.update_scale(
        ips,
        actor=world.users["coordinator"],
        name=ips.name,
        version=ips.version,
        source=ips.source,
        notes="",
        min_level=1,
        max_level=5,
        bands=ips.bands,
    )
    assert not is_new and changed.pk == ips.pk
    assert AuditEvent.objects.filter(action="scale.changed", target_id=str(ips.pk)).exists()


def test_overlapping_or_impossible_bands_are_refused(world: World, ips: Scale) -> None:
    for bands, message in (
        ([{"min": 90, "max": 125, "label": "A"}, {"min": 25, "max": 90, "label": "B"}], "overlap"),
        ([{"min": 100, "max": 130, "label": "A"}], "within the possible totals"),
    ):
        with pytest.raises(scales.ScaleError, match=message):
            scales.update_scale(
                ips,
                actor=world.users["coordinator"],
                name=ips.name,
                version=ips.version,
                source="",
                notes="",
                min_level=1,
                max_level=5,
                bands=bands,
            )


def test_a_coordinator_defines_a_scale_of_their_own(world: World) -> None:
    scale = scales.create_scale(
        world.trial,
        actor=world.users["coordinator"],
        name="Contact quality",
        version="1",
        min_level=0,
        max_level=2,
        bands=[{"min": 3, "max": 4, "label": "High"}, {"min": 0, "max": 2, "label": "Low"}],
    )
    for number in (1, 2):
        scales.save_item(
            scale,
            actor=world.users["coordinator"],
            item=None,
            number=number,
            section="",
            title=f"Item {number}",
            description="",
            anchors={0: "none", 1: "some", 2: "all"},
        )
    items = list(scale.items.all())
    assert summarise(scale, items, {1: 2, 2: 1}).band == "High"
    assert summarise(scale, items, {1: 0, 2: 2}).band == "Low"
    with pytest.raises(scales.ScaleError, match="missing: 2"):
        scales.save_item(
            scale,
            actor=world.users["coordinator"],
            item=None,
            number=3,
            section="",
            title="Item 3",
            description="",
            anchors={0: "none", 1: "some"},
        )


# Pages


def url(review: Review, part: str = "") -> str:
    return f"/trials/ips/fidelity/reviews/{review.pk}/{part}"


def test_caseworker_cannot_score(world: World, review: Review) -> None:
    client = world.client("caseworker")
    assert client.get(url(review, "score/")).status_code == 403
    response = client.post(url(review, "score/"), {f"item_{n}": "3" for n in range(1, 26)})
    assert response.status_code == 403
    api = client.post(
        f"/api/v1/trials/ips/fidelity/reviews/{review.pk}/scores/",
        {"scores": all_items(3)},
        content_type="application/json",
    )
    assert api.status_code == 403
    assert not ReviewerScore.objects.exists()


def test_outsider_gets_404_and_blinded_statistician_403(world: World, review: Review) -> None:
    assert world.client("outsider").get("/trials/ips/fidelity/reviews/").status_code == 404
    assert world.client("outsider").get(url(review)).status_code == 404
    assert world.client("statistician").get("/trials/ips/fidelity/reviews/").status_code == 403
    assert world.client("statistician").get("/trials/ips/fidelity/trends/").status_code == 403


def test_caseworker_sees_only_reviews_of_their_sites(world: World, ips: Scale) -> None:
    other = review_services.create_review(
        world.trial,
        actor=world.users["coordinator"],
        site=world.sites[1],
        scale=ips,
        review_date=DAY,
        reviewers=[world.users["reviewer"]],
    )
    client = world.client("caseworker")
    assert client.get(url(other)).status_code == 404
    assert other.site.code not in client.get("/trials/ips/fidelity/reviews/").content.decode()


def test_scoring_form_refuses_an_invalid_score_with_a_per_item_error(
    world: World, review: Review
) -> None:
    client = world.client("reviewer")
    data = {f"item_{n}": "4" for n in range(1, 26)}
    data["item_9"] = "9"
    response = client.post(url(review, "score/"), data)
    assert response.status_code == 200
    page = response.content.decode()
    assert "1 item needs a valid score; nothing was saved." in page
    assert 'id="id_item_9_error"' in page and "Choose a level from 1 to 5." in page
    assert not ReviewerScore.objects.exists()


def test_scoring_form_saves_a_draft_with_blank_items(world: World, review: Review) -> None:
    client = world.client("reviewer")
    data = {f"item_{n}": "4" for n in range(1, 13)}
    response = client.post(url(review, "score/"), data, follow=True)
    page = response.content.decode()
    assert "Your scores are saved as a draft: 13 of 25 items still need a score." in page
    saved = ReviewerScore.objects.filter(review=review, reviewer=world.users["reviewer"])
    assert sorted(saved.values_list("item__number", flat=True)) == list(range(1, 13))
    assert not saved.filter(score=0).exists()
    review.refresh_from_db()
    assert review.status == Review.Status.DRAFT
    # Back on the form, the draft's scores are checked and the blank items are still blank.
    form = client.get(url(review, "score/")).content.decode()
    assert form.count("checked") == 12
    # Finishing the draft completes the reviewer's scores.
    done = client.post(url(review, "score/"), {f"item_{n}": "4" for n in range(1, 26)})
    assert done.status_code == 302
    assert saved.count() == 25


def test_reviewer_scores_on_the_page_and_sees_totals_and_band(
    world: World, review: Review, second_reviewer: Any
) -> None:
    review_services.submit_scores(review, actor=second_reviewer, scores=all_items(5))
    client = world.client("reviewer")
    page = client.get(url(review, "score/")).content.decode()
    assert page.count('type="radio"') == 125
    response = client.post(url(review, "score/"), {f"item_{n}": "5" for n in range(1, 26)})
    assert response.status_code == 302
    detail = client.get(url(review)).content.decode()
    assert "Exemplary fidelity" in detail
    # Both reviewers gave every item 5: kappa is undefined and the page says so, no NaN.
    assert "Kappa is undefined" in detail and "nan" not in detail.lower()
    consensus = client.get(url(review, "consensus/")).content.decode()
    assert consensus.count("checked") == 25
    client.post(url(review, "consensus/"), {f"item_{n}": "4" for n in range(1, 26)})
    detail = client.get(url(review)).content.decode()
    assert 'id="review-total">100<' in detail
    assert 'id="review-band">Good fidelity<' in detail
    confirm = client.get(url(review, "finalise/"))
    assert confirm.status_code == 200
    assert "What finalising locks" in confirm.content.decode()
    review.refresh_from_db()
    assert review.status == Review.Status.CONSENSUS  # asking changes nothing
    assert client.post(url(review, "finalise/")).status_code == 302
    review.refresh_from_db()
    assert review.status == Review.Status.FINALISED


def test_coordinator_adds_the_ips_scale_in_one_click(world: World) -> None:
    client = world.client("coordinator")
    page = client.get("/trials/ips/fidelity/scales/").content.decode()
    assert "Add the IPS Supported Employment Fidelity Scale" in page
    response = client.post("/trials/ips/fidelity/scales/add-template/", {"template": "ips25"})
    scale = Scale.objects.get(trial=world.trial)
    assert response["Location"] == f"/trials/ips/fidelity/scales/{scale.pk}/"
    assert scale.items.count() == 25
    assert (
        world.client("reviewer")
        .post("/trials/ips/fidelity/scales/add-template/", {"template": "ips25"})
        .status_code
        == 403
    )


def test_scale_form_shows_band_errors_next_to_the_field(world: World, ips: Scale) -> None:
    response = world.client("coordinator").post(
        f"/trials/ips/fidelity/scales/{ips.pk}/edit/",
        {
            "name": ips.name,
            "version": ips.version,
            "min_level": 1,
            "max_level": 5,
            "bands": "100-125 Good\nnonsense",
        },
    )
    assert response.status_code == 200
    assert "Line 2" in response.content.decode()


def finished_review(world: World, ips: Scale, site_index: int, day: dt.date, total: int) -> Review:
    reviewer = world.users["reviewer"]
    review = review_services.create_review(
        world.trial,
        actor=world.users["coordinator"],
        site=world.sites[site_index],
        scale=ips,
        review_date=day,
        reviewers=[reviewer],
    )
    review_services.submit_scores(review, actor=reviewer, scores=with_total(total))
    review_services.record_consensus(review, actor=reviewer, scores=with_total(total))
    return review


def test_trend_page_shows_each_sites_totals_chart_and_items(world: World, ips: Scale) -> None:
    finished_review(world, ips, 0, dt.date(2024, 6, 1), 80)
    finished_review(world, ips, 0, dt.date(2024, 12, 1), 101)
    finished_review(world, ips, 0, dt.date(2025, 6, 1), 116)
    trends = site_trends(world.trial, world.sites)
    first = trends[0]
    assert [p.total for p in first.points] == [80, 101, 116]
    assert [p.band for p in first.points] == [
        "Fair fidelity",
        "Good fidelity",
        "Exemplary fidelity",
    ]
    assert first.change == 36
    # y runs from 132 (total 25) up to 12 (total 125): band floors 115, 100 and 74 are at
    # 132 - 120 x 90/100 = 24, 132 - 120 x 75/100 = 42 and 132 - 120 x 49/100 = 73.2.
    assert [b.y for b in first.band_lines] == [24.0, 42.0, 73.2]
    # Axis labels: band floors first, then 25 and 125 (12 px from 115: not crowded).
    assert [t.value for t in first.ticks] == [115, 100, 74, 25, 125]
    assert first.item_rows[0]["cells"][0] == {"score": 5, "heat": 5}
    assert trends[1].points == []
    page = world.client("coordinator").get("/trials/ips/fidelity/trends/").content.decode()
    assert "80 → 101 → 116" in page
    assert "+36" in page
    assert "<svg" in page and "<script" not in page.split("</header>")[1]
    assert 'class="num heat-5"' in page


# API


def test_api_lists_reviews_with_computed_figures(world: World, ips: Scale) -> None:
    finished_review(world, ips, 0, dt.date(2025, 1, 10), 99)
    response = world.client("coordinator").get("/api/v1/trials/ips/fidelity/reviews/")
    assert response.status_code == 200
    (row,) = response.json()
    assert row["summary"]["total"] == 99
    assert row["summary"]["band"] == "Fair fidelity"
    assert [s["total"] for s in row["summary"]["sections"]] == [15, 40, 44]
    assert row["scale_version"] == ips.version
    scales_api = world.client("reviewer").get("/api/v1/trials/ips/fidelity/scales/").json()
    assert len(scales_api[0]["items"]) == 25
    assert (
        world.client("statistician").get("/api/v1/trials/ips/fidelity/reviews/").status_code == 403
    )


def test_api_refuses_bad_scores_with_field_errors(world: World, review: Review) -> None:
    client = world.client("reviewer")
    endpoint = f"/api/v1/trials/ips/fidelity/reviews/{review.pk}/scores/"
    bad = all_items(3) | {3: 0}
    del bad[7]
    response = client.post(endpoint, {"scores": bad}, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "scores": {"3": ["Choose a level from 1 to 5."], "7": ["Score this item."]}
    }
    assert not ReviewerScore.objects.exists()
    ok = client.post(endpoint, {"scores": all_items(3)}, content_type="application/json")
    assert ok.status_code == 200
    assert ok.json()["reviewers"][0]["summary"] is None  # hidden until both reviewers scored
    assert ReviewerScore.objects.filter(reviewer=world.users["reviewer"]).count() == 25


# Drafts, partial consensus and finalising


def test_a_draft_keeps_blank_items_blank_and_the_review_waits(
    world: World, review: Review, second_reviewer: Any
) -> None:
    reviewer = world.users["reviewer"]
    draft = dict.fromkeys(range(1, 11), 4) | {11: "", 12: None}
    review_services.submit_scores(review, actor=reviewer, scores=draft, draft=True)
    mine = ReviewerScore.objects.filter(review=review, reviewer=reviewer)
    assert mine.count() == 10
    view = review_view(review)
    column = next(c for c in view.reviewers if c.user_id == reviewer.pk)
    assert (column.summary.scored, column.summary.total) == (10, None)
    assert "reviewer" in view.waiting_for
    event = AuditEvent.objects.get(action="review.scored")
    assert (event.data["scored"], event.data["items"]) == (10, 25)
    # An invalid score is still refused in a draft, and nothing changes.
    with pytest.raises(scales.ScaleError) as refused:
        review_services.submit_scores(review, actor=reviewer, scores={1: 7}, draft=True)
    assert refused.value.errors == {1: "Choose a level from 1 to 5."}
    assert mine.count() == 10


def test_review_is_scored_only_while_every_reviewer_has_scored_every_item(
    world: World, review: Review, second_reviewer: Any
) -> None:
    reviewer = world.users["reviewer"]
    review_services.submit_scores(review, actor=reviewer, scores=all_items(4))
    review_services.submit_scores(review, actor=second_reviewer, scores=all_items(4))
    review.refresh_from_db()
    assert review.status == Review.Status.SCORED
    # Clearing an item makes the reviewer's scores a draft again: the consensus must wait.
    review_services.submit_scores(
        review, actor=reviewer, scores=all_items(4) | {25: ""}, draft=True
    )
    review.refresh_from_db()
    assert review.status == Review.Status.DRAFT
    rescored = AuditEvent.objects.filter(action="review.rescored").last()
    assert rescored is not None and rescored.data["scores"] == {"25": [4, None]}


def test_a_partial_consensus_is_saved_but_cannot_be_finalised(
    world: World, review: Review, second_reviewer: Any
) -> None:
    reviewer = world.users["reviewer"]
    review_services.submit_scores(review, actor=reviewer, scores=all_items(4))
    review_services.submit_scores(review, actor=second_reviewer, scores=all_items(4))
    partial = dict.fromkeys(range(1, 21), 4)
    review_services.record_consensus(review, actor=reviewer, scores=partial, draft=True)
    review.refresh_from_db()
    assert review.status == Review.Status.SCORED
    assert ConsensusScore.objects.filter(review=review).count() == 20
    summary = review_view(review).summary
    assert summary is not None and summary.total is None
    with pytest.raises(scales.ScaleError, match="consensus score for every item"):
        review_services.finalise_review(review, actor=reviewer)
    # Once any consensus score is recorded, the independent scores are locked.
    with pytest.raises(scales.ScaleError, match="consensus is recorded"):
        review_services.submit_scores(review, actor=reviewer, scores=all_items(5))
    # Without ``draft`` the consensus must be complete.
    with pytest.raises(scales.ScaleError):
        review_services.record_consensus(review, actor=reviewer, scores=partial)
    review_services.record_consensus(review, actor=reviewer, scores=all_items(4), draft=True)
    review.refresh_from_db()
    assert review.status == Review.Status.CONSENSUS
    review_services.finalise_review(review, actor=reviewer)
    review.refresh_from_db()
    assert review.status == Review.Status.FINALISED


def test_consensus_page_names_the_reviewers_in_order(
    world: World, review: Review, second_reviewer: Any
) -> None:
    review_services.submit_scores(review, actor=world.users["reviewer"], scores=all_items(4))
    review_services.submit_scores(review, actor=second_reviewer, scores=all_items(5))
    response = world.client("reviewer").get(url(review, "consensus/"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "ReviewerColumn" not in page and "Summary(" not in page
    # Ordered by user name: reviewer (no full name), then reviewer2 (Berit Bedømmer).
    assert "Reviewers' scores are shown in this order: reviewer, Berit Bedømmer." in page


def test_consensus_page_saves_a_partial_consensus_as_a_draft(
    world: World, review: Review, second_reviewer: Any
) -> None:
    review_services.submit_scores(review, actor=world.users["reviewer"], scores=all_items(4))
    review_services.submit_scores(review, actor=second_reviewer, scores=all_items(4) | {1: 2})
    client = world.client("reviewer")
    # Item 1: the reviewers differ (4 and 2), so it is not filled in; saving leaves it blank.
    data = {f"item_{n}": "4" for n in range(2, 26)}
    page = client.post(url(review, "consensus/"), data, follow=True).content.decode()
    assert "The consensus is saved as a draft: 1 of 25 items still needs a score" in page
    assert 'id="review-scored">24 / 25<' in page
    assert "Finalise" not in page
    confirm = client.get(url(review, "finalise/")).content.decode()
    assert "Only a review with a consensus score for every item can be finalised." in confirm
    assert "<button" not in confirm.split("</header>")[1]
    assert client.post(url(review, "finalise/")).status_code == 302
    review.refresh_from_db()
    assert review.status == Review.Status.SCORED


def test_finalise_confirmation_says_what_it_locks_and_works_without_javascript(
    world: World, review: Review, second_reviewer: Any
) -> None:
    for reviewer in (world.users["reviewer"], second_reviewer):
        review_services.submit_scores(review, actor=reviewer, scores=all_items(4))
    review_services.record_consensus(review, actor=world.users["reviewer"], scores=all_items(4))
    client = world.client("reviewer")
    detail = client.get(url(review)).content.decode()
    # The review page links to the confirmation; it does not finalise in one click.
    assert f'href="{url(review, "finalise/")}"' in detail
    page = client.get(url(review, "finalise/")).content.decode()
    body = page.split("</header>")[1]
    assert "the total (100) and band (Good fidelity)" in body
    assert "Each reviewer's independent scores." in body
    assert '<form method="post"' in body and "<script" not in body
    assert world.client("caseworker").get(url(review, "finalise/")).status_code == 403
    assert world.client("outsider").get(url(review, "finalise/")).status_code == 404
