"""axe-core on the pages that no flow of the browser suite reaches, in English and bokmål.

The crawl of tests/browser/test_accessibility.py follows every link a demo user has; the flow
tests check the pages of their flows. Some pages are reached by neither: a trial still being set
up has "Remove" links the recruiting demo trial hides, a simulation, a register file's page, a
consent text and a participant's opt-out page exist only once someone has made one, and the
participant-links settings are not linked at all. The tests here make them and visit each, so
axe checks it (tests/browser/axe.py), and read its heading.

The last test keeps the list whole: every URL pattern of the app that answers GET with a page
is reached by the demo crawl (found again here with Django's test client, the same way), or
visited by a flow test or here; what is not a page (a POST-only action, a file, a fragment, a
redirect) is named as such. A new page that no test visits fails it, by name.
"""

from __future__ import annotations

import re
import secrets
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, resolve
from django.utils import timezone
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from demo.seed import seed_demo
from instruments.models import Assessment
from pathways import importing
from pathways import services as pathways
from randomisation.models import Scheme, SimulationRun
from randomisation.simulation import services as simulation
from surveys.consent import services as consent
from surveys.links import opt_out_url
from tests.browser.axe import Accessibility
from tests.browser.pages import log_in
from tests.pathways.helpers import csv_bytes
from tests.surveys.scene import Scene, invitation_of, make_scene
from trial.demo import DEMO_TRIAL_CODE, USERS
from trial.models import CovariateDefinition, Membership, VisitDefinition
from trial.setup import services as trial_setup

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"  # noqa: S105 - the factories' test password


@dataclass
class Visit:
    """A page to open and the heading it must show in English."""

    path: str
    heading: str


def read_in_both_languages(
    page: Page, live_server: LiveServer, accessibility: Accessibility, visits: list[Visit]
) -> None:
    """Open each page in English and check its heading, then switch to Norsk and open each
    again; axe checks every one of them (a finding fails the test, tests/browser/conftest.py)."""
    for language in ("en", "nb"):
        if language == "nb":
            page.get_by_role("button", name="Norsk").click()
            expect(page.locator("html")).to_have_attribute("lang", "nb")
        for visit in visits:
            checks = accessibility.checks
            response = page.goto(live_server.url + visit.path)
            assert response is not None and response.ok, f"{visit.path}: {language}"
            expect(page.locator("html")).to_have_attribute("lang", language)
            heading = expect(page.locator("h1"))
            if language == "en":
                heading.to_have_text(visit.heading)
            else:
                heading.not_to_have_text(visit.heading)  # translated
            assert (
                accessibility.checks > checks
                and live_server.url + visit.path in accessibility.pages
            )


def sign_in(page: Page, live_server: LiveServer, path: str, username: str) -> None:
    page.goto(live_server.url + path)
    log_in(page, username, PASSWORD)
    expect(page.locator("h1")).to_be_visible()


@pytest.fixture
def scene() -> Scene:
    """A trial still being set up, with an instrument, a visit, a participant with contact
    details (tests/surveys/scene.py), and one of each kind of set-up row."""
    return make_scene("ips-every")


def test_set_up_remove_pages_pass_axe(
    live_server: LiveServer,
    page: Page,
    scene: Scene,
    accessibility: Accessibility,
    screenshots: Path,
) -> None:
    trial, coordinator = scene.trial, scene.coordinator
    base = f"/trials/{trial.code}/setup/"
    arm = trial.arms.get(code="A")
    reason = trial_setup.add_exclusion_reason(
        trial, code="moved", label="Moved away", actor=coordinator
    )
    covariate = trial_setup.add_covariate(
        trial, key="age", label="Age", kind=CovariateDefinition.Kind.INTEGER, actor=coordinator
    )
    visit = VisitDefinition.objects.get(trial=trial, code="m3")
    member = Membership.objects.get(trial=trial, user=scene.caseworker)

    sign_in(page, live_server, base, coordinator.username)
    read_in_both_languages(
        page,
        live_server,
        accessibility,
        [
            Visit(f"{base}arms/{arm.pk}/remove/", "Remove arm A?"),
            Visit(f"{base}sites/{scene.site.pk}/remove/", f"Remove site {scene.site.code}?"),
            Visit(
                f"{base}members/{member.pk}/remove/",
                f"Remove {scene.caseworker.username} from the trial?",
            ),
            Visit(
                f"{base}exclusion-reasons/{reason.pk}/remove/",
                "Remove the exclusion reason “Moved away”?",
            ),
            Visit(f"{base}covariates/{covariate.pk}/remove/", "Remove covariate age?"),
            Visit(f"{base}visits/{visit.pk}/remove/", "Remove visit m3?"),
        ],
    )
    page.screenshot(path=screenshots / "every-page-remove-visit-nb.png", full_page=True)


def test_instrument_scale_remove_and_dictionary_pages_pass_axe(
    live_server: LiveServer,
    page: Page,
    scene: Scene,
    accessibility: Accessibility,
    screenshots: Path,
) -> None:
    trial, code = scene.trial.code, scene.instrument.code
    sign_in(page, live_server, f"/trials/{trial}/instruments/", scene.coordinator.username)
    read_in_both_languages(
        page,
        live_server,
        accessibility,
        [
            Visit(f"/trials/{trial}/instruments/{code}/scales/1/", "Scale 1 of Wellbeing"),
            Visit(
                f"/trials/{trial}/instruments/{code}/remove/", "Remove the instrument Wellbeing?"
            ),
            Visit(f"/trials/{trial}/dictionary/", "Data dictionary"),
        ],
    )
    page.screenshot(path=screenshots / "every-page-dictionary-nb.png", full_page=True)


def test_simulation_and_register_file_pages_pass_axe(
    live_server: LiveServer, page: Page, scene: Scene, accessibility: Accessibility
) -> None:
    trial, coordinator = scene.trial, scene.coordinator
    scheme = Scheme.objects.create(
        trial=trial, method=Scheme.Method.BLOCKS, block_sizes=[2, 4], stratify_by_site=True
    )
    levels = simulation.mix_levels(scheme)
    run = SimulationRun.objects.create(
        scheme=scheme,
        parameters={
            "n_trials": 20,
            "trial_size": 24,
            "strata_mix": {
                factor: {value: 1 / len(values) for value, _label in values}
                for factor, values in levels.items()
            },
            "spec": simulation.spec_to_json(simulation.spec_for(scheme)),
            "seed": secrets.token_hex(32),
        },
        total=20,
        requested_by=coordinator,
    )
    assert simulation.execute(run.pk) == SimulationRun.Status.DONE

    pathways.add_standard_alphabet(trial, actor=coordinator)
    start = timezone.localdate().replace(day=1).isoformat()
    data = csv_bytes(
        [
            [scene.participant.study_id, "work", start, "", "A-ordningen", ""],
            ["NOBODY-1", "education", start, "", "NUDB", ""],
        ]
    )
    spell_import = importing.create_import(
        trial, data=data, file_name="spells.csv", default_source="FD-Trygd", actor=coordinator
    )
    importing.check_import(spell_import, data)

    sign_in(page, live_server, f"/trials/{trial.code}/", coordinator.username)
    read_in_both_languages(
        page,
        live_server,
        accessibility,
        [
            Visit(f"/trials/{trial.code}/randomisation/simulations/{run.pk}/", "Simulation"),
            Visit(
                f"/trials/{trial.code}/pathways/imports/{spell_import.pk}/",
                "Register file spells.csv",
            ),
        ],
    )
    errors = page.locator("table", has=page.locator("caption"))
    expect(errors.locator("tbody tr")).to_have_count(1)  # the row of the unknown study id


def test_consent_text_participant_links_and_opt_out_pages_pass_axe(
    live_server: LiveServer, page: Page, scene: Scene, accessibility: Accessibility
) -> None:
    trial, coordinator = scene.trial, scene.coordinator
    today = timezone.localdate()
    published = consent.save_text(
        trial,
        version="v1",
        text_nb="Jeg samtykker til å delta.",
        text_en="I agree to take part.",
        effective_on=today,
        actor=coordinator,
    )
    consent.publish_text(published, actor=coordinator)
    draft = consent.save_text(
        trial,
        version="v2",
        text_nb="Jeg samtykker til å delta, også i oppfølgingen.",
        text_en="I agree to take part, also in the follow-up.",
        effective_on=today,
        actor=coordinator,
    )
    opt_out = opt_out_url(invitation_of(scene))
    base = f"/trials/{trial.code}/"

    sign_in(page, live_server, base, coordinator.username)
    read_in_both_languages(
        page,
        live_server,
        accessibility,
        [
            Visit(f"{base}consent/{published.pk}/", "Consent text v1"),
            Visit(f"{base}consent/{draft.pk}/", "Consent text v2 (draft)"),
            Visit(f"{base}participant-links/", "Participant links"),
        ],
    )

    # The consent screen on a staff device opens in the participant's language (bokmål).
    page.goto(f"{live_server.url}{base}participants/{scene.participant.study_id}/consent/")
    expect(page.locator("html")).to_have_attribute("lang", "nb")
    expect(page.locator("h1")).to_have_text("Samtykke til å delta")
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Consent to take part")

    # The participant's own page, in the participant's language (bokmål in the scene).
    page.goto(live_server.url + urlsplit(opt_out).path)
    expect(page.locator("html")).to_have_attribute("lang", "nb")
    expect(page.locator("h1")).to_have_text("Stopp meldinger")


def test_a_radio_group_with_an_error_is_a_described_group_in_both_languages(
    live_server: LiveServer, page: Page, scene: Scene, screenshots: Path
) -> None:
    """templates/_field.html: a group of radios is a fieldset named by its legend, described
    by its help text and its error, and the page with the error passes axe."""
    path = f"/trials/{scene.trial.code}/dictionary/import/"
    sign_in(page, live_server, path, scene.coordinator.username)
    page.evaluate(
        "() => document.querySelectorAll('input[type=radio]').forEach((r) => {"
        " r.checked = false; })"
    )
    page.get_by_role("button", name="Check the file").click()
    group = page.get_by_role("group", name="Format")
    expect(group).to_have_accessible_description(
        re.compile(r"^REDCap's dictionary has one language.*This field is required\.$")
    )
    expect(group.get_by_role("radio", name="REDCap data dictionary (CSV)")).to_be_visible()
    expect(page.get_by_label("Dictionary file (CSV)")).to_have_accessible_description(
        "UTF-8, comma or semicolon separated, at most 1 MB. This field is required."
    )
    page.screenshot(path=screenshots / "every-page-radio-group-error.png", full_page=True)

    page.get_by_role("button", name="Norsk").click()
    page.evaluate(
        "() => document.querySelectorAll('input[type=radio]').forEach((r) => {"
        " r.checked = false; })"
    )
    page.get_by_role("button", name="Kontroller filen").click()
    expect(page.locator("fieldset.has-error legend")).to_be_visible()
    page.screenshot(path=screenshots / "every-page-radio-group-error-nb.png", full_page=True)


# --- every page is visited somewhere -------------------------------------------------------

# The pages the tests above visit (URL names).
VISITED_HERE = {
    "trial:setup:remove_arm",
    "trial:setup:remove_site",
    "trial:setup:remove_member",
    "trial:setup:remove_reason",
    "trial:setup:remove_covariate",
    "trial:setup:remove_visit",
    "instruments_setup:edit_scale",
    "instruments_setup:remove",
    "instruments_dictionary:dictionary",
    "randomisation:simulation",
    "pathways:import_detail",
    "consent_staff:edit",
    "consent_staff:device",
    "surveys_staff:settings",
    "surveys:opt_out",
}
# Pages a flow test reaches that the demo crawl does not (the module that visits each).
IN_FLOWS = {
    "login": "test_login_language",
    "trial:home": "test_setup_browser",
    "trial:setup:add_arm": "test_setup_browser",
    "randomisation:lock": "test_trial_path",
    "randomisation:randomise": "test_trial_path",
    "randomisation:manual": "test_trial_path",
    "trialimport:import_detail": "test_trial_path",
    "reports:plan_edit": "test_report_pipeline",
    "reports:plan_lock": "test_report_pipeline",
    "reports:detail": "test_report_pipeline",
    "fidelity:remove_site_event": "test_contact_log",
    "fidelity_reviews:score": "test_fidelity_review",
    "fidelity_reviews:consensus": "test_fidelity_review",
    "fidelity_reviews:finalise": "test_fidelity_review",
    "accounts:verify": "test_two_factor_browser",
    "accounts:recovery_codes": "test_two_factor_browser",
    "accounts:welcome": "test_sso_browser",
    "surveys:answer": "test_participant_questionnaire_browser",
    "surveys:thanks": "test_participant_questionnaire_browser",
    "consent:page": "test_econsent_browser",
    "consent:withdraw": "test_econsent_browser",
}
# Not pages: actions that only take a POST, files, fragments that htmx swaps into a page
# (checked there, since axe checks a page again after a swap), redirects and JSON.
NOT_PAGES = {
    "trial:setup:change_status": "POST",
    "randomisation:sites": "POST",
    "fidelity:remove_assignment": "POST",
    "fidelity_reviews:scale_add_template": "POST",
    "occupations:activate": "POST",
    "pathways:import_confirm": "POST",
    "pathways:import_cancel": "POST",
    "pathways:flag_review": "POST",
    "pathways:alphabet_standard": "POST",
    "pathways:state_delete": "POST",
    "pathways:settings": "POST",
    "economics:import": "POST",
    "economics:settings": "POST",
    "economics:delete": "POST",
    "trialimport:import_confirm": "POST",
    "instruments_setup:add_builtin": "POST",
    "instruments_setup:settings": "POST",
    "instruments_setup:move_item": "POST",
    "instruments_setup:add_library_scale": "POST",
    "accounts:replace_recovery_codes": "POST",
    "accounts:disable": "POST",
    "accounts:revoke_token": "POST",
    "accounts:new_token": "POST",
    "consent_staff:publish": "POST",
    "consent_staff:reconsent": "POST",
    "consent_staff:send": "POST",
    "logout": "POST",
    "set_language": "POST",
    "randomisation:export": "CSV file",
    "reports:consort_svg": "SVG file",
    "reports:download": "report files",
    "instruments_dictionary:download": "CSV file",
    "consent_staff:pdf": "PDF file",
    "fidelity:participant_search": "fragment of the contact form",
    "pathways:import_status": "fragment of the register file's page",
    "accounts:oidc_start": "redirect to the identity provider",
    "accounts:oidc_callback": "redirect from the identity provider",
    "health": "JSON",
}
# As tests/browser/test_accessibility.py: not the app's own pages.
LEFT_OUT = ("/admin/", "/api/", "/static/", "/accounts/login/", "/accounts/logout/")
LINK = re.compile(r"<a\b([^>]*)>")
HREF = re.compile(r'\bhref="([^"]*)"')


def url_names(
    patterns: list[Any] | None = None, prefix: str = "", namespace: str = ""
) -> Iterator[str]:
    """The names of the app's URL patterns, outside the admin and the API."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(entry.pattern)
        if ("/" + route).startswith(("/admin/", "/api/")):
            continue
        if isinstance(entry, URLResolver):
            inner = namespace + (f"{entry.namespace}:" if entry.namespace else "")
            yield from url_names(entry.url_patterns, route, inner)
        elif isinstance(entry, URLPattern) and entry.name:
            yield namespace + entry.name


def name_of(path: str) -> str | None:
    try:
        return resolve(path).view_name
    except Resolver404:
        return None


def crawled(client: Client, also: list[str]) -> set[str]:
    """The crawl of test_accessibility.py with Django's test client: from the trial's landing
    page, every link (not a download) to an HTML page, one page per URL name, and ``also``."""
    visited: set[str] = set()
    refused: set[str] = set()
    queue = deque([(f"/trials/{DEMO_TRIAL_CODE}/", False), *((path, True) for path in also)])
    while queue:
        url, forced = queue.popleft()
        name = name_of(urlsplit(url).path)
        if name is None or name in refused or (name in visited and not forced):
            continue
        response = client.get(url)
        if forced and response.status_code in (403, 404):
            continue
        if response.status_code != 200 or not response["Content-Type"].startswith("text/html"):
            refused.add(name)
            continue
        visited.add(name)
        for attributes in LINK.findall(response.content.decode()):
            href = HREF.search(attributes)
            if href is None or re.search(r"\bdownload\b", HREF.sub("", attributes)):
                continue
            link = urljoin(url, unescape(href.group(1))).split("#")[0]
            if link.startswith("/") and not urlsplit(link).path.startswith(LEFT_OUT):
                queue.append((link, False))
    return visited


def test_every_page_of_the_app_is_visited_by_a_browser_test(settings: Any) -> None:
    settings.TWO_FACTOR_REQUIRED = False
    names = set(url_names())
    listed = VISITED_HERE | set(IN_FLOWS) | set(NOT_PAGES)
    assert listed <= names, f"no longer URL names: {sorted(listed - names)}"
    here = Path(__file__).parent
    assert all((here / f"{module}.py").is_file() for module in IN_FLOWS.values())

    seed_demo(participants=20, seed=3)
    assessment = (
        Assessment.objects.filter(visit__participant__site__code="OSL1")
        .order_by("visit__participant__study_id", "pk")
        .first()
    )
    assert assessment is not None
    also = [
        f"/trials/{DEMO_TRIAL_CODE}/visits/{assessment.visit_id}/assess/",
        f"/trials/{DEMO_TRIAL_CODE}/instruments/who5/edit/",
    ]
    reached: set[str] = set()
    for username, *_ in USERS:
        client = Client()
        client.force_login(User.objects.get(username=username))
        reached |= crawled(client, also)
    assert "trial:participant" in reached and "fidelity_reviews:scale" in reached

    unvisited = names - reached - listed
    assert not unvisited, (
        "pages no browser test visits (visit them in this module, or name them in IN_FLOWS "
        f"or NOT_PAGES): {sorted(unvisited)}"
    )
