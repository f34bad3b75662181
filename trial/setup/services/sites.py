"""A trial's sites (NAV offices): their codes are fixed once people are recorded there."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.utils.translation import gettext as _

from trial.models import Site, Trial
from trial.services import TrialError
from trial.setup.services.common import create_audited, delete_audited, save_changes


def add_site(
    trial: Trial,
    *,
    code: str,
    name: str,
    municipality_number: str = "",
    region: str = "",
    actor: User,
) -> Site:
    """Add a site (allowed at any status). Raises TrialError for a taken code."""
    if trial.sites.filter(code=code).exists():
        raise TrialError(_("The trial has a site with this code already."), field="code")
    return create_audited(
        Site,
        trial=trial,
        code=code,
        name=name,
        municipality_number=municipality_number,
        region=region,
        actor=actor,
    )


def _site_in_use(site: Site) -> bool:
    return site.participants.exists() or site.screenings.exists()


def update_site(
    site: Site,
    *,
    code: str,
    name: str,
    municipality_number: str,
    region: str,
    actor: User,
) -> Site:
    """Edit a site. Its code, the prefix of study ids, is fixed once people are recorded there.

    Raises TrialError for a taken code or a code change at a site in use.
    """
    if code != site.code:
        if site.trial.sites.filter(code=code).exclude(pk=site.pk).exists():
            raise TrialError(_("The trial has a site with this code already."), field="code")
        if _site_in_use(site):
            raise TrialError(
                _(
                    "People have been screened or enrolled at this site: its code is part of "
                    "their study ids and cannot change."
                ),
                field="code",
            )
    save_changes(
        site,
        {
            "code": code,
            "name": name,
            "municipality_number": municipality_number,
            "region": region,
        },
        actor=actor,
    )
    return site


def remove_site(site: Site, *, actor: User) -> None:
    """Delete a site that has no participants and no screening records.

    Raises TrialError otherwise. Memberships lose the site from their list.
    """
    if _site_in_use(site):
        raise TrialError(
            _(
                "Site %(code)s has participants or screening records; it cannot be removed "
                "without losing their data."
            )
            % {"code": site.code}
        )
    delete_audited(site, actor=actor)
