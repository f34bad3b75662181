from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TrialImportConfig(AppConfig):
    """The import of a whole trial from CSV files (docs/import-formats.md). Like ``privacy`` and
    ``demo``, it may import every app: it writes set-up, participants, allocations, answers and
    withdrawals through their apps' rules; no app imports it."""

    name = "trialimport"
    verbose_name = _("Trial import")

    def ready(self) -> None:
        from trial.extensions import NavItem, register_nav_item

        register_nav_item(
            NavItem(_("Import"), "trialimport:import", perm="import_data", order=85, group="data")
        )
