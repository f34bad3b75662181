"""axe-core on every page the browser tests visit (WCAG 2.1 A and AA).

axe-core's script comes from the pinned ``axe-playwright-python`` package (its ``axe.min.js``,
MPL-2.0; nothing of it is copied into this repository), and is put into each page with
``page.evaluate``: that goes through the DevTools protocol, so the app's Content-Security-Policy,
which allows no inline or foreign script, neither blocks it nor has to be loosened for it.

When it runs: Playwright calls a *locator handler* before every action and every auto-waiting
assertion of a test, whenever its locator matches. The locator here is the page's ``<html>``
element without the ``data-axe-checked`` mark, so each new document (a navigation, a form's
answer) is checked once, before the test's next step touches it; the check sets the mark. A
``MutationObserver`` removes the mark when elements are added or removed (an htmx swap, a script
showing a question), so the changed page is checked again at the next step. ``page.goto`` (and
``reload``, ``go_back``, ``go_forward``) check the page being left if no step came to it, and
the page reached once it has loaded. Whatever a test has left unchecked at its end is checked
then. A new test needs no code of its own. Documents that are not HTML (JSON, SVG) are skipped.

Findings of impact "serious" or "critical" fail the test (``pytest_runtest_call`` in
``tests/browser/conftest.py``), with the page, the rule, its help text and the elements; minor
and moderate ones are written to the summary beside the screenshots for whoever wants them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from axe_playwright_python.base import AXE_FILE_PATH
from playwright.sync_api import BrowserContext, Error, Locator, Page

TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = frozenset({"serious", "critical"})
MARK = "data-axe-checked"

# Runs in the page: axe over the whole document, then the mark and the observer that clears it
# when elements come or go. The observer is off while axe runs, so axe's own work cannot clear it.
RUN = """async (tags) => {
  const root = document.documentElement;
  if (document.contentType !== "text/html") {  // JSON, SVG, text: no page for people to read
    root.setAttribute("__MARK__", "");
    return null;
  }
  if (document.readyState !== "complete") {  // its scripts have not all run yet
    await new Promise((loaded) => window.addEventListener("load", loaded, {once: true}));
  }
  if (window.__axeObserver) window.__axeObserver.disconnect();
  const results = await axe.run(document, {
    runOnly: {type: "tag", values: tags},
    resultTypes: ["violations"],
  });
  root.setAttribute("__MARK__", "");
  if (!window.__axeObserver) {
    window.__axeObserver = new MutationObserver(() => root.removeAttribute("__MARK__"));
  }
  if (document.body) window.__axeObserver.observe(document.body, {childList: true, subtree: true});
  return {
    url: location.href,
    title: document.title,
    version: axe.version,
    violations: results.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
      nodes: v.nodes.map((n) => ({
        target: n.target.map(String), html: n.html, summary: n.failureSummary || "",
      })),
    })),
  };
}""".replace("__MARK__", MARK)

# What a page being replaced under axe says: the new document is checked at the next step.
GONE = re.compile(r"Execution context was destroyed|navigat|Target .*closed|has been closed")


@cache
def axe_script() -> str:
    return AXE_FILE_PATH.read_text(encoding="utf-8")


@dataclass
class Finding:
    url: str
    rule: str
    impact: str
    help: str
    help_url: str
    targets: list[str]
    summary: str

    def describe(self) -> str:
        shown = self.targets[:8]
        more = f" (and {len(self.targets) - len(shown)} more)" if len(self.targets) > 8 else ""
        lines = [
            f"- {self.url}",
            f"  [{self.impact}] {self.rule}: {self.help}",
            f"  elements: {'; '.join(shown)}{more}",
        ]
        if self.summary:
            lines.append("  " + " ".join(self.summary.split())[:300])
        lines.append(f"  {self.help_url}")
        return "\n".join(lines)


@dataclass
class Accessibility:
    """The axe checks of one test: the documents checked and what axe found on them."""

    checks: int = 0
    pages: set[str] = field(default_factory=set)
    version: str = ""
    findings: list[Finding] = field(default_factory=list)
    _seen: set[tuple[str, str, str]] = field(default_factory=set)
    _installed: set[int] = field(default_factory=set)

    def install(self, page: Page) -> None:
        """Check each new document of ``page`` before the test's next step on it."""
        if id(page) in self._installed:
            return
        self._installed.add(id(page))

        def before_next_step(_: Locator) -> None:
            self.check(page)

        page.add_locator_handler(unchecked(page), before_next_step, no_wait_after=True)
        # Navigations that no step follows (page.goto after page.goto): the page being left is
        # checked first if a step has not come to it, and the page reached right after loading.
        for name in ("goto", "reload", "go_back", "go_forward"):
            setattr(page, name, self._checking(page, getattr(page, name)))

    def _checking(self, page: Page, navigate: Callable[..., Any]) -> Callable[..., Any]:
        def navigate_and_check(*args: Any, **kwargs: Any) -> Any:
            if page.url.startswith(("http://", "https://")):
                self.check_if_unchecked(page)
            response = navigate(*args, **kwargs)
            self.check_if_unchecked(page)
            return response

        return navigate_and_check

    def install_in(self, context: BrowserContext) -> None:
        for page in context.pages:
            self.install(page)
        context.on("page", self.install)

    def check(self, page: Page) -> None:
        """Run axe on the page as it is now, unless it is no web page of ours (about:blank)."""
        if not page.url.startswith(("http://", "https://")):
            return
        try:
            if not page.evaluate("() => typeof window.axe === 'object'"):
                page.evaluate(axe_script())
            report: dict[str, Any] = page.evaluate(RUN, TAGS)
        except Error as error:
            if GONE.search(str(error)):
                return  # replaced while axe ran: the next document gets its own check
            raise
        if report is not None:
            self.record(report)

    def check_if_unchecked(self, page: Page) -> None:
        try:
            if unchecked(page).count():
                self.check(page)
        except Error as error:
            if not GONE.search(str(error)):
                raise

    def check_unchecked(self, context: BrowserContext) -> None:
        """At the end of a test: the pages whose current document no step came to."""
        for page in context.pages:
            if not page.is_closed() and page.url.startswith(("http://", "https://")):
                self.check_if_unchecked(page)

    def record(self, report: dict[str, Any]) -> None:
        self.checks += 1
        url = report["url"]
        self.pages.add(url.split("#")[0])
        self.version = report["version"]
        for violation in report["violations"]:
            targets = [" ".join(node["target"]) for node in violation["nodes"]]
            key = (url, violation["id"], "|".join(targets))
            if key in self._seen:
                continue
            self._seen.add(key)
            self.findings.append(
                Finding(
                    url=url,
                    rule=violation["id"],
                    impact=violation["impact"] or "",
                    help=violation["help"],
                    help_url=violation["helpUrl"],
                    targets=targets,
                    summary=violation["nodes"][0]["summary"] if violation["nodes"] else "",
                )
            )

    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.impact in BLOCKING]

    def failure_message(self) -> str:
        found = self.blocking()
        rules = sorted({f.rule for f in found})
        head = (
            f"axe-core {self.version} ({', '.join(TAGS)}): {len(found)} serious or critical "
            f"finding(s) of {', '.join(rules)} on {len({f.url for f in found})} page(s) "
            f"of the {len(self.pages)} checked:"
        )
        return "\n".join([head, *(f.describe() for f in found)])

    def write_summary(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        summary = {
            "axe": self.version,
            "tags": TAGS,
            "checks": self.checks,
            "pages": sorted(self.pages),
            "findings": [finding.__dict__ for finding in self.findings],
        }
        path.write_text(json.dumps(summary, indent=1), encoding="utf-8")


def unchecked(page: Page) -> Locator:
    return page.locator(f"html:not([{MARK}])")
