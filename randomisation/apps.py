from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RandomisationConfig(AppConfig):
    name = "randomisation"
    verbose_name = _("Randomisation")
