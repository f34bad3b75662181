"""One date and time format per language (ISO-like in both, config/formats/), and study ids
that never wrap."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.template import Context, Template
from django.utils import timezone, translation

from tests.conftest import World

AT = dt.datetime(2026, 12, 6, 10, 14, tzinfo=dt.UTC)  # 11:14 in Oslo


@pytest.mark.parametrize("language", ["en", "nb"])
def test_dates_and_times_read_the_same_in_every_language(language: str) -> None:
    template = Template(
        '{{ at|date:"SHORT_DATETIME_FORMAT" }}|{{ at|date:"DATETIME_FORMAT" }}|'
        '{{ day|date:"SHORT_DATE_FORMAT" }}|{{ day }}|{{ at|time }}'
    )
    with translation.override(language), timezone.override("Europe/Oslo"):
        text = template.render(Context({"at": AT, "day": AT.date()}))
    assert text == "2026-12-06 11:14|2026-12-06 11:14|2026-12-06|2026-12-06|11:14"


def test_month_names_stay_the_languages_own() -> None:
    template = Template('{{ day|date:"YEAR_MONTH_FORMAT" }}')
    day = dt.date(2026, 12, 6)
    with translation.override("nb"):
        assert template.render(Context({"day": day})) == "desember 2026"
    with translation.override("en"):
        assert template.render(Context({"day": day})) == "December 2026"


def test_norwegian_dates_are_still_read_as_typed() -> None:
    from django import forms

    with translation.override("nb"):
        field = forms.DateField()
        assert field.clean("06.12.2026") == dt.date(2026, 12, 6)
        assert field.clean("2026-12-06") == dt.date(2026, 12, 6)


def test_no_template_asks_for_a_date_pattern_of_its_own() -> None:
    """Dates and times come from the language's formats; only seconds (audit trails) and a
    time zone are spelt out."""
    # Seconds in audit trails, a time zone, <time datetime=…>, and month ticks on a chart axis.
    allowed = {'"Y-m-d H:i:s"', '"Y-m-d H:i T"', "'Y-m-d'", '"M Y"', '"M y"'}
    found = []
    for path in Path(settings.BASE_DIR, "templates").rglob("*.html"):
        for pattern in re.findall(r"""\|date:(["'][^"']*["'])""", path.read_text()):
            if "Y" in pattern and "FORMAT" not in pattern and pattern not in allowed:
                found.append(f"{path.name}: {pattern}")
    assert found == []


def test_a_page_shows_times_in_the_format_of_its_language(world: World) -> None:
    from fidelity.models import Contact

    participant = world.participants["OSLA"][0]
    Contact.objects.create(
        trial=world.trial,
        site=participant.site,
        participant=participant,
        author=world.users["caseworker"],
        author_name="caseworker",
        contact_on=timezone.localdate(),
        mode=Contact.Mode.PHONE,
        minutes=10,
        partners=["participant"],
    )
    client = world.client("caseworker")
    for language in ("en", "nb"):
        client.post("/i18n/setlang/", {"language": language, "next": "/"})
        page = client.get("/trials/ips/contacts/all/").content.decode()
        assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", page), language
        assert "a.m." not in page and "p.m." not in page
        # Study ids in tables carry the class that keeps them on one line.
        assert f'class="id" href="/trials/ips/participants/{participant.study_id}/"' in page


def test_ids_and_dates_never_wrap() -> None:
    css = Path(settings.BASE_DIR, "static", "css", "app.css").read_text()
    assert re.search(r"^\.id, \.date \{ white-space: nowrap; \}$", css, re.MULTILINE)
