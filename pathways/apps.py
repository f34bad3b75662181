from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PathwaysConfig(AppConfig):
    name = "pathways"
    verbose_name = _("Pathways")

    def ready(self) -> None:
        from pathways import hooks  # noqa: F401  (the participant's pathway strip)
        from trial.extensions import NavItem, register_nav_item

        register_nav_item(
            NavItem(
                _("Pathways"),
                "pathways:overview",
                perm="view_participants",
                order=60,
                group="participants",
            )
        )
        register_nav_item(
            NavItem(
                _("Register data"), "pathways:import", perm="import_data", order=86, group="data"
            )
        )
