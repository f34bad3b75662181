from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _

from trial import extensions
from trial.permissions import Perm, has_perm


def navigation(request: HttpRequest) -> dict[str, Any]:
    """The trial menu for the trial a view put on the request (see trial.views.trial_view)."""
    trial = getattr(request, "current_trial", None)
    if trial is None:
        return {}
    user = request.user
    items: list[tuple[int, Any, str, tuple[Perm, ...]]] = [
        (10, _("Dashboard"), "trial:dashboard", (Perm.VIEW_TRIAL,)),
        (20, _("Worklist"), "trial:worklist", (Perm.RECORD_ASSESSMENT,)),
        (30, _("Participants"), "trial:participants", (Perm.VIEW_PARTICIPANTS,)),
        (40, _("Screening"), "trial:screening", (Perm.ENROL,)),
        (80, _("Audit trail"), "trial:audit", (Perm.VIEW_AUDIT,)),
        (90, _("Set-up"), "trial:setup:overview", (Perm.CONFIGURE_TRIAL,)),
    ]
    items += [
        (i.order, i.label, i.url_name, tuple(Perm(p) for p in (i.perm, *i.also)))
        for i in extensions.nav_items()
    ]
    path = request.path
    nav = []
    for _order, label, name, perms in sorted(items, key=lambda item: item[0]):
        if not all(has_perm(user, trial, perm) for perm in perms):
            continue
        url = reverse(name, args=[trial.code])
        current = path == url if name == "trial:dashboard" else path.startswith(url)
        nav.append({"label": label, "url": url, "current": current})
    return {"current_trial": trial, "trial_nav": nav}
