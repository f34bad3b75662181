from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RandomisationConfig(AppConfig):
    name = "randomisation"
    verbose_name = _("Randomisation")

    def ready(self) -> None:
        from randomisation.allocation import hooks  # noqa: F401  (participant panel and timeline)
        from trial.extensions import NavItem, register_nav_item

        register_nav_item(
            NavItem(
                _("Randomisation"),
                "randomisation:overview",
                perm="view_trial",
                order=45,
                group="randomisation",
            )
        )
