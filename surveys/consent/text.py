"""A consent text as shown: plain text in a small, safe markup, rendered escaped, and the
SHA-256 of exactly that rendering (what the participant's screen and the PDF both show).

The markup: paragraphs are separated by an empty line, a line starting with ``# `` is a
heading, lines starting with ``- `` make a bulleted list. Everything else is text, escaped;
no HTML of the author's reaches a page.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from surveys.consent.models import ConsentText


@dataclass(frozen=True)
class Shown:
    """A version's text in one language as rendered (``html``, safe) and its SHA-256."""

    text: ConsentText
    language: str
    html: SafeString
    sha256: str


def _block(lines: list[str]) -> str:
    if all(line.startswith("- ") for line in lines):
        items = "".join(f"<li>{escape(line[2:].strip())}</li>" for line in lines)
        return f"<ul>{items}</ul>"
    if len(lines) == 1 and lines[0].startswith("# "):
        return f"<h2>{escape(lines[0][2:].strip())}</h2>"
    return "<p>" + "<br>".join(escape(line) for line in lines) + "</p>"


def render(source: str) -> SafeString:
    """The text as escaped HTML (paragraphs, headings, bulleted lists)."""
    blocks: list[list[str]] = [[]]
    for raw in source.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.strip()
        if line:
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    html = "\n".join(_block(lines) for lines in blocks if lines)
    return mark_safe(html)  # noqa: S308  # every piece of text went through escape() above


def shown(text: ConsentText, language: str) -> Shown:
    """What the consent screen shows of ``text`` in ``language`` ("nb" unless "en")."""
    language = "en" if language == "en" else "nb"
    html = render(text.text_in(language))
    return Shown(text, language, html, hashlib.sha256(html.encode("utf-8")).hexdigest())
