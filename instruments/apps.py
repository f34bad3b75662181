from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InstrumentsConfig(AppConfig):
    name = "instruments"
    verbose_name = _("Instruments")

    def ready(self) -> None:
        # The participant timeline's answered instruments (trial imports nothing of ours).
        from instruments import timeline  # noqa: F401
