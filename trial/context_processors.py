from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _

from trial.permissions import Perm, has_perm


def navigation(request: HttpRequest) -> dict[str, Any]:
    """The trial menu for the trial a view put on the request (see trial.views.trial_view)."""
    trial = getattr(request, "current_trial", None)
    if trial is None:
        return {}
    user = request.user
    items = [(_("Dashboard"), "trial:dashboard", Perm.VIEW_TRIAL)]
    items.append((_("Worklist"), "trial:worklist", Perm.RECORD_ASSESSMENT))
    items.append((_("Participants"), "trial:participants", Perm.VIEW_PARTICIPANTS))
    items.append((_("Screening"), "trial:screening", Perm.ENROL))
    items.append((_("Audit trail"), "trial:audit", Perm.VIEW_AUDIT))
    items.append((_("Set-up"), "trial:setup:overview", Perm.CONFIGURE_TRIAL))
    path = request.path
    nav = []
    for label, name, perm in items:
        if not has_perm(user, trial, perm):
            continue
        url = reverse(name, args=[trial.code])
        current = path == url if name == "trial:dashboard" else path.startswith(url)
        nav.append({"label": label, "url": url, "current": current})
    return {"current_trial": trial, "trial_nav": nav}
