from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SurveysConfig(AppConfig):
    name = "surveys"
    verbose_name = _("Participant questionnaires")

    def ready(self) -> None:
        # The participant page's panel (trial imports nothing of ours).
        from surveys import hooks  # noqa: F401
