from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TrialConfig(AppConfig):
    name = "trial"
    verbose_name = _("Trials and participants")

    def ready(self) -> None:
        from trial import timeline  # noqa: F401  (registers the participant timeline)
