"""End to end in headless Chromium: the unblinded statistician must set up two-factor sign-in,
then signs in with password and code and downloads a report; a wrong code is refused at the
field, and repeated wrong codes lock the sign-in for a while (django-otp throttling)."""

from __future__ import annotations

import datetime as dt
import re
from base64 import b32decode
from pathlib import Path
from typing import Any

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from reports.models import ReportRequest
from tests import factories
from tests.browser.conftest import Console
from tests.conftest import totp_code
from trial.models import AuditEvent, Membership

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery"  # noqa: S105 - the factories' test password
WRONG = "The code is wrong or has expired."
LOCKED = re.compile(r"Too many wrong codes")


def sign_in(page: Page, username: str) -> None:
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("#id_password").press("Enter")


def enter_code(page: Page, code: str) -> None:
    page.locator("#id_code").fill(code)
    page.locator("#id_code").press("Enter")


def test_unblinded_statistician_sets_up_totp_signs_in_with_it_and_downloads(
    live_server: LiveServer,
    page: Page,
    console: Console,
    screenshots: Path,
    settings: Any,
    tmp_path: Path,
) -> None:
    settings.TWO_FACTOR_REQUIRED = True
    # After a wrong code the next try must wait factor × 2^(failures-1) seconds; a large
    # factor keeps the lock in place for the whole test however slow the machine is.
    settings.OTP_TOTP_THROTTLE_FACTOR = 600
    settings.FILES_ROOT = tmp_path
    trial = factories.make_trial(code="ips", title="IPS trial")
    factories.make_site(trial, "OSLA")
    user = factories.make_user("lars", first_name="Lars", last_name="Ublindet")
    factories.make_membership(user, trial, Membership.Role.STATISTICIAN, unblinded=True)
    (tmp_path / "reports" / "ips").mkdir(parents=True)
    (tmp_path / "reports" / "ips" / "ips-data-1.zip").write_bytes(b"PK report")
    report = ReportRequest.objects.create(
        trial=trial,
        kind="data",
        cut_off=dt.date(2025, 6, 1),
        seed=1,
        blinded=False,
        status=ReportRequest.Status.DONE,
        zip_file="ips-data-1.zip",
        requested_by_name="lars",
    )
    reports = f"{live_server.url}/trials/ips/reports/"

    # 1. Password first; the role requires a second factor, so set-up comes before anything.
    # (The first page of a fresh server compiles templates and imports views: be patient.)
    page.goto(reports, timeout=60_000)
    sign_in(page, "lars")
    expect(page).to_have_url(re.compile(r"/accounts/two-factor/set-up/\?next="))
    expect(page.locator("main")).to_contain_text("you must sign in with a second factor")
    expect(page.locator("figure.qr svg")).to_be_visible()
    page.screenshot(path=screenshots / "two-factor-setup.png", full_page=True)
    page.goto(reports)  # nothing else is open yet
    expect(page).to_have_url(re.compile(r"/accounts/two-factor/set-up/"))

    # The app's side: the secret shown on the page gives the codes.
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    key_hex = b32decode(secret + "=" * (-len(secret) % 8)).hex()
    enter_code(page, totp_code(key_hex))
    expect(page).to_have_url(re.compile(r"/accounts/two-factor/recovery-codes/$"))
    expect(page.locator("ul.recovery-codes li")).to_have_count(10)
    page.screenshot(path=screenshots / "two-factor-recovery-codes.png", full_page=True)
    page.goto(reports)
    expect(page.locator("h1")).to_have_text("Reports")

    # 2. Sign out, and in again: password, then the code.
    page.get_by_role("button", name="Log out").click()
    page.goto(reports)
    sign_in(page, "lars")
    expect(page).to_have_url(re.compile(r"/accounts/two-factor/verify/\?next="))
    enter_code(page, "000000")
    expect(page.locator("#id_code_error")).to_have_text(WRONG)
    page.screenshot(path=screenshots / "two-factor-wrong-code.png", full_page=True)

    # 3. Repeated wrong codes lock the sign-in: even the right code waits.
    enter_code(page, "111111")
    expect(page.locator("#id_code_error")).to_contain_text(LOCKED)
    enter_code(page, totp_code(key_hex, steps_ahead=1))
    expect(page.locator("#id_code_error")).to_contain_text(LOCKED)
    expect(page).to_have_url(re.compile(r"/accounts/two-factor/verify/"))
    page.screenshot(path=screenshots / "two-factor-locked.png", full_page=True)
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    assert device.throttling_failure_count == 1  # tries while locked are not even checked

    # The wait passes (here: the lock is lifted in the database), and the code is accepted.
    device.throttle_reset()
    enter_code(page, totp_code(key_hex, steps_ahead=1))
    expect(page).to_have_url(reports)
    with page.expect_download() as info:
        page.locator(f'a[href="/trials/ips/reports/{report.pk}/download/zip/"]').click()
    download = info.value
    assert Path(download.path()).read_bytes() == b"PK report"
    assert AuditEvent.objects.filter(action="report.downloaded", actor=user).count() == 1
    assert not console.csp_violations(), "\n".join(console.csp_violations())
