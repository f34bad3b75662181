from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InstrumentsConfig(AppConfig):
    name = "instruments"
    verbose_name = _("Instruments")

    def ready(self) -> None:
        from trial.extensions import NavItem, register_nav_item

        register_nav_item(
            NavItem(_("Instruments"), "instruments_setup:list", perm="define_instruments", order=88)
        )
