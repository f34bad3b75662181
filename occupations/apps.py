from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OccupationsConfig(AppConfig):
    name = "occupations"
    verbose_name = _("Occupations and job strain")

    def ready(self) -> None:
        from trial.extensions import NavItem, register_nav_item

        register_nav_item(
            NavItem(
                _("Job strain"),
                "occupations:job_strain",
                perm="view_dashboard",
                order=75,
                group="reports",
            )
        )
