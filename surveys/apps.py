from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SurveysConfig(AppConfig):
    name = "surveys"
    verbose_name = _("Participant questionnaires")

    def ready(self) -> None:
        # The participant page's panel (trial imports nothing of ours).
        from surveys import hooks  # noqa: F401
        from surveys.consent import hooks as consent_hooks  # noqa: F401
        from surveys.consent import tasks  # noqa: F401  # not found by autodiscovery
        from trial.extensions import NavItem, register_nav_item

        setup = "setup"
        register_nav_item(
            NavItem(_("Consent texts"), "consent_staff:texts", "manage_consent", 89, group=setup),
            NavItem(
                _("Participant links"), "surveys_staff:settings", "configure_trial", 90, group=setup
            ),
        )
