from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InstrumentsConfig(AppConfig):
    name = "instruments"
    verbose_name = _("Instruments")

    def ready(self) -> None:
        # The participant page's panel and timeline entries (trial imports nothing of ours).
        from instruments import hooks, timeline  # noqa: F401
        from trial.extensions import NavItem, register_nav_item

        register_nav_item(
            NavItem(_("Instruments"), "instruments_setup:list", perm="define_instruments", order=88)
        )
