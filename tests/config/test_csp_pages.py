"""No page breaks the Content-Security-Policy: no inline scripts, event-handler attributes,
style attributes or style elements (``script-src 'self'`` and ``style-src 'self'`` block them).

The demo trial is seeded and each persona's pages are crawled from the start page, following
every link inside the site, so new pages are covered without listing them here.
"""

from __future__ import annotations

from collections import deque
from html.parser import HTMLParser
from urllib.parse import urldefrag, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from demo.seed import seed_demo
from tests.conftest import verified_login

# Files, not pages, and actions that end the session or change data on GET.
SKIP = ("/download/", "/export/", ".csv", ".pdf", ".zip", "/accounts/logout/", "/admin/")
PAGES_PER_PERSONA = 80


class Scanner(HTMLParser):
    """Collects what the policy would block, and the links to follow."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.links: list[str] = []
        self._script_inline = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _value in attrs}
        values = dict(attrs)
        for name in names:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…> event handler attribute")
        if "style" in names:
            self.problems.append(f"<{tag} style={values['style']!r}>")
        if tag == "style":
            self.problems.append("<style> element")
        if tag == "script":
            kind = (values.get("type") or "").lower()
            # JSON data blocks are not executed, so the policy does not apply to them.
            self._script_inline = "src" not in names and kind != "application/json"
            if self._script_inline:
                self.problems.append("<script> without src")
        for name in ("href", "src", "action", "formaction"):
            value = values.get(name) or ""
            if value.strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}=javascript:…>")
        if tag == "a" and values.get("href"):
            self.links.append(values["href"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script_inline = False


def crawl(client: Client, start: str = "/") -> tuple[dict[str, list[str]], int]:
    """Visit up to PAGES_PER_PERSONA pages; returns the problems by page and the pages seen."""
    seen: set[str] = set()
    queue: deque[str] = deque([start])
    problems: dict[str, list[str]] = {}
    pages = 0
    while queue and pages < PAGES_PER_PERSONA:
        path = queue.popleft()
        if path in seen:
            continue
        seen.add(path)
        response = client.get(path, follow=True)
        if "text/html" not in response.get("Content-Type", ""):
            continue
        pages += 1
        scanner = Scanner()
        scanner.feed(response.content.decode())
        if scanner.problems:
            problems[path] = scanner.problems
        for href in scanner.links:
            target = urldefrag(href)[0]
            parts = urlsplit(target)
            if parts.scheme or parts.netloc or not parts.path.startswith("/"):
                continue
            if any(marker in target for marker in SKIP) or target in seen:
                continue
            queue.append(target)
    return problems, pages


@pytest.mark.django_db
def test_no_page_needs_inline_script_or_style() -> None:
    seed_demo(participants=20, seed=3)
    users = get_user_model().objects
    total = 0
    found: dict[str, list[str]] = {}
    for persona in ("coordinator", "unblinded", "caseworker", "monitor", "reviewer"):
        client = verified_login(Client(), users.get(username=persona))
        problems, pages = crawl(client)
        assert pages > 10, f"{persona} reached only {pages} pages"
        total += pages
        found.update({f"{persona} {path}": items for path, items in problems.items()})
    # Pages outside the trial menu: the account and two-factor pages, the login page.
    for path in ("/accounts/two-factor/", "/accounts/password/"):
        client = verified_login(Client(), users.get(username="caseworker"))
        problems, _pages = crawl(client, path)
        found.update(problems)
    login_problems, _pages = crawl(Client(), "/accounts/login/")
    found.update(login_problems)
    assert total > 120
    report = "\n".join(f"{path}: {sorted(set(items))}" for path, items in sorted(found.items()))
    assert not found, report


def test_the_scanner_finds_what_the_policy_blocks() -> None:
    scanner = Scanner()
    scanner.feed(
        '<script src="/static/app.js"></script><script type="application/json">{}</script>'
        '<p style="color:red" onclick="x()">a</p><script>alert(1)</script><style>p{}</style>'
        '<a href="javascript:void(0)">b</a><a href="/trials/">c</a>'
    )
    assert sorted(scanner.problems) == sorted(
        [
            "<p onclick=…> event handler attribute",
            "<p style='color:red'>",
            "<script> without src",
            "<style> element",
            "<a href=javascript:…>",
        ]
    )
    assert scanner.links == ["javascript:void(0)", "/trials/"]
