from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = _("Reports")

    def ready(self) -> None:
        from reports import landing  # noqa: F401  (the landing page's analysis panel)
        from trial.extensions import NavItem, register_nav_item

        register_nav_item(
            NavItem(_("Reports"), "reports:list", perm="download_report", order=70, group="reports")
        )
        register_nav_item(
            NavItem(
                _("Report downloads"),
                "reports:downloads",
                perm="view_audit",
                order=82,
                group="reports",
            )
        )
