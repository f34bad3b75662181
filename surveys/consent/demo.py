"""The demo trial's consent form for electronic consent: the versions its participants signed
on paper (``trial.demo.CONSENT_VERSIONS``), published in bokmål and English, so that the
participant page offers consent through a link or on the staff device. A short, plausible text
for an IPS trial; no real persons or institutions are named."""

from __future__ import annotations

import datetime as dt
from typing import Any

from surveys.consent import services
from surveys.consent.models import ConsentText
from trial.demo import CONSENT_VERSIONS
from trial.models import Trial

TEXT_NB = """# Forespørsel om deltakelse i forskningsprosjektet «{trial}»

Du får denne forespørselen fordi du får oppfølging fra NAV og ønsker å komme i arbeid. \
Studien sammenligner to måter å gi slik oppfølging på: individuell jobbstøtte (IPS), der en \
jobbspesialist hjelper deg med å finne og beholde en vanlig jobb, og den oppfølgingen NAV \
vanligvis gir. Hvem som får hva, avgjøres ved loddtrekning.

# Hva innebærer det for deg?

- Du svarer på spørreskjemaer om arbeid, inntekt og trivsel ved oppstart og etter 3, 6, 12 og \
18 måneder.
- Vi henter opplysninger om arbeid og ytelser fra NAVs registre for de to årene etter at du ble med.
- Jobbspesialisten eller veilederen din fører en logg over kontaktene dere har.

# Frivillig deltakelse og personvern

- Det er frivillig å delta. Du kan trekke deg når som helst uten å oppgi grunn, og det \
påvirker ikke oppfølgingen din fra NAV.
- Opplysningene lagres uten navn og fødselsnummer i forskningsfilene; bare prosjektgruppen har \
koblingsnøkkelen.
- Opplysningene slettes eller anonymiseres senest fem år etter at prosjektet er avsluttet.

Versjon {version}. Ved å bekrefte samtykker du i å delta i studien og i at opplysninger om deg \
brukes slik det er beskrevet her."""

TEXT_EN = """# Invitation to take part in the research project "{trial}"

You are receiving this invitation because you are followed up by NAV and want to get into \
work. The study compares two ways of giving such support: individual placement and support \
(IPS), in which an employment specialist helps you find and keep an ordinary job, and the \
support NAV usually gives. Who gets which is decided by drawing lots.

# What does taking part mean for you?

- You answer questionnaires about work, income and well-being at the start and after 3, 6, 12 \
and 18 months.
- We obtain information about work and benefits from NAV's registers for the two years after \
you join.
- Your employment specialist or caseworker keeps a log of your contacts.

# Voluntary participation and privacy

- Taking part is voluntary. You may withdraw at any time without giving a reason, and it does \
not affect the support you get from NAV.
- The research files hold your information without your name or national identity number; only \
the project team holds the key that links them.
- The information is deleted or anonymised at the latest five years after the project ends.

Version {version}. By confirming you consent to take part in the study and to information about \
you being used as described here."""


def seed_consent_texts(trial: Trial, actor: Any, *, start: dt.date) -> list[ConsentText]:
    """Publish the demo's consent versions, each in force from its day after ``start`` (the
    first enrolment), through the consent services (audited as the coordinator's)."""
    published = []
    for version, after in CONSENT_VERSIONS:
        values = {"trial": trial.title, "version": version}
        draft = services.save_text(
            trial,
            version=version,
            text_nb=TEXT_NB.format(**values),
            text_en=TEXT_EN.format(**values),
            effective_on=start + dt.timedelta(days=after),
            actor=actor,
        )
        published.append(services.publish_text(draft, actor=actor))
    return published
