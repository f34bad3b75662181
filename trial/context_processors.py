from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from trial import extensions
from trial.extensions import NavItem
from trial.permissions import Landing, Perm, has_perm, landing

# The menu entries of ``trial`` itself; other apps register theirs (trial.extensions).
TRIAL_NAV = (
    NavItem(_("Dashboard"), "trial:dashboard", "view_trial", order=10, group="overview"),
    NavItem(_("Trial statistics"), "trial:statistics", "view_trial", order=12, group="overview"),
    NavItem(_("Worklist"), "trial:worklist", "record_assessment", order=20, group="follow_up"),
    NavItem(_("Participants"), "trial:participants", "view_participants", 30, group="participants"),
    NavItem(_("Screening"), "trial:screening", "enrol", order=40, group="participants"),
    NavItem(_("Audit trail"), "trial:audit", "view_audit", order=88, group="data"),
    # First in its group, before what other apps add to it (an order below theirs).
    NavItem(_("Trial set-up"), "trial:setup:overview", "configure_trial", 80, group="setup"),
)


def navigation(request: HttpRequest) -> dict[str, Any]:
    """The trial menu for the trial a view put on the request (see trial.views.trial_view).

    ``trial_nav``: the groups the user has an entry in (NAV_GROUPS order), each linking to its
    first entry; ``trial_subnav``: the entries of the group the current page is in, when it
    has more than one.
    """
    trial = getattr(request, "current_trial", None)
    if trial is None:
        return {}
    user = request.user
    # Whoever lands on their own work has it as the first entry, and the figures beside it.
    own_work = landing(user, trial) == Landing.OWN_WORK
    path = request.path
    groups: dict[str, dict[str, Any]] = {}
    for item in sorted((*TRIAL_NAV, *extensions.nav_items()), key=lambda i: i.order):
        if item.url_name == "trial:statistics" and not own_work:
            continue  # the dashboard is the figures
        if not all(has_perm(user, trial, Perm(p)) for p in (item.perm, *item.also)):
            continue
        url = reverse(item.url_name, args=[trial.code])
        label = _("Your work") if item.url_name == "trial:dashboard" and own_work else item.label
        current = path == url if item.url_name == "trial:dashboard" else path.startswith(url)
        group = groups.setdefault(
            item.group,
            {"key": item.group, "label": extensions.NAV_GROUPS[item.group], "items": []},
        )
        group["items"].append({"label": label, "url": url, "current": current})
    nav = []
    for key in extensions.NAV_GROUPS:
        if key not in groups:
            continue
        group = groups[key]
        first = group["items"][0]
        group["url"] = first["url"]
        group["current"] = any(i["current"] for i in group["items"])
        # aria-current="page" only when the group's link is this very page.
        group["current_page"] = first["current"]
        nav.append(group)
    current = next((g for g in nav if g["current"]), None)
    subnav = current if current is not None and len(current["items"]) > 1 else None
    return {"current_trial": trial, "trial_nav": nav, "trial_subnav": subnav}
