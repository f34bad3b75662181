from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TrialConfig(AppConfig):
    name = "trial"
    verbose_name = _("Trials and participants")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        # timeline and landing register their hooks (trial.extensions) on import.
        from trial import dbroles, landing, timeline  # noqa: F401

        # post_migrate is sent per app after all migrations ran; once (for this app) is enough
        # to grant the application's restricted database role its privileges (dbroles.py).
        post_migrate.connect(
            dbroles.grant_after_migrate, sender=self, dispatch_uid="trial.grant_app_role"
        )
