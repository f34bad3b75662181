"""End to end in headless Chromium: a fidelity reviewer scores a site and sees the band; a
coordinator reads the site's fidelity trend."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from fidelity.models import ReviewerScore
from fidelity.reviews import services as review_services
from fidelity.scales import services as scales
from tests import factories
from tests.browser.conftest import Console
from tests.browser.pages import assert_no_csp_violations, log_in
from trial.models import Membership

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"  # noqa: S105 - the factories' test password


def test_reviewer_scores_a_site_and_sees_the_band(
    live_server: LiveServer, page: Page, console: Console, screenshots: Path
) -> None:
    trial = factories.make_trial(code="ips", title="IPS for young adults")
    site = factories.make_site(trial, "OSL1")
    site.name = "NAV Grünerløkka"
    site.save(update_fields=["name"])
    per = factories.make_user("per", first_name="Per", last_name="Fidelitet")
    kari = factories.make_user("kari", first_name="Kari", last_name="Koordinator")
    factories.make_membership(per, trial, Membership.Role.FIDELITY_REVIEWER)
    factories.make_membership(kari, trial, Membership.Role.COORDINATOR)
    scale = scales.add_template_scale(trial, actor=kari)
    # An earlier, finished review, so the trend has two points.
    earlier = review_services.create_review(
        trial, actor=kari, site=site, scale=scale, review_date=dt.date(2024, 11, 4), reviewers=[per]
    )
    review_services.submit_scores(earlier, actor=per, scores=dict.fromkeys(range(1, 26), 3))
    review_services.record_consensus(earlier, actor=per, scores=dict.fromkeys(range(1, 26), 3))
    review = review_services.create_review(
        trial, actor=kari, site=site, scale=scale, review_date=dt.date(2025, 5, 20), reviewers=[per]
    )

    page.goto(live_server.url + "/")
    log_in(page, "per", PASSWORD)
    page.get_by_role("navigation", name="Trial").get_by_role("link", name="Fidelity").click()
    expect(page.locator("h1")).to_have_text("Fidelity reviews")
    page.get_by_role("link", name="Your scores").click()
    expect(page.locator("fieldset.score-item")).to_have_count(25)

    # Item 1 at level 5 through its anchor text, items 2-24 at 4, item 25 left out.
    page.get_by_role("group", name="1. Caseload size").get_by_text("20 or fewer").click()
    for number in range(2, 25):
        page.locator(f"#item-{number} input[value='4']").check()
    page.get_by_role("button", name="Save my scores").click()
    # Saved halfway: a draft, item 25 still blank (not zero).
    expect(page.locator(".messages")).to_contain_text(
        "Your scores are saved as a draft: 1 of 25 items still needs a score."
    )
    assert ReviewerScore.objects.filter(review=review).count() == 24
    expect(page.locator("main dl.facts")).to_contain_text("Waiting for")
    page.screenshot(path=screenshots / "fidelity-score-draft.png", full_page=False)

    page.get_by_role("link", name="Your scores").click()
    expect(page.locator("#item-7 input[value='4']")).to_be_checked()
    expect(page.locator("#item-25 input:checked")).to_have_count(0)
    page.locator("#item-25 input[value='5']").check()
    page.get_by_role("button", name="Save my scores").click()
    expect(page.locator(".messages")).to_contain_text("Your scores are saved.")
    # Scored independently: 5 + 23 x 4 + 5 = 102, good fidelity.
    own = page.get_by_role("table", name="Each reviewer's independent result").get_by_role(
        "row", name=re.compile("^Per Fidelitet")
    )
    expect(own).to_contain_text("102")
    expect(own).to_contain_text("Good fidelity")

    page.get_by_role("link", name="Record the consensus").click()
    expect(page.locator("#item-25 input[value='5']")).to_be_checked()
    page.locator("#item-25 input[value='4']").check()
    page.get_by_role("button", name="Save the consensus").click()
    expect(page.locator("#review-total")).to_have_text("101")
    expect(page.locator("#review-band")).to_have_text("Good fidelity")
    page.screenshot(path=screenshots / "fidelity-review-detail.png", full_page=True)
    page.get_by_role("link", name="Finalise…").click()
    expect(page.locator("main")).to_contain_text("What finalising locks")
    page.screenshot(path=screenshots / "fidelity-finalise-confirm.png", full_page=True)
    page.get_by_role("button", name="Yes, finalise the review").click()
    expect(page.locator(".messages")).to_contain_text("The review is finalised.")

    page.get_by_role("link", name="All reviews").click()
    page.get_by_role("link", name="Fidelity by site over time").click()
    expect(page.get_by_role("row", name="OSL1 NAV Grünerløkka")).to_contain_text("75 → 101")
    expect(page.locator("svg.chart.trend circle")).to_have_count(2)
    page.screenshot(path=screenshots / "fidelity-trends.png", full_page=True)
    assert_no_csp_violations(console)
