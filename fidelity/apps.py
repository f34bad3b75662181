from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FidelityConfig(AppConfig):
    name = "fidelity"
    verbose_name = _("Fidelity and contamination")

    def ready(self) -> None:
        # What each sub-domain adds to trial's pages (the participant panel, timeline entries,
        # landing panels) and the assessment listener (docs/decisions.md).
        from fidelity.contacts import hooks as contact_hooks  # noqa: F401
        from fidelity.contamination import hooks as contamination_hooks  # noqa: F401
        from fidelity.reviews import hooks as review_hooks  # noqa: F401
        from trial.extensions import NavItem, register_nav_item

        register_nav_item(
            NavItem(
                _("Contacts"), "fidelity:contacts", perm="log_contact", order=35, group="follow_up"
            )
        )
        register_nav_item(
            NavItem(
                _("Fidelity reviews"),
                "fidelity_reviews:reviews",
                perm="view_allocation",
                order=60,
                group="fidelity",
            )
        )
        # The dashboards also need view_allocation (they show arms).
        register_nav_item(
            NavItem(
                _("Dose and reach"),
                "fidelity_dashboards:dose",
                perm="view_dashboard",
                order=62,
                also=("view_allocation",),
                group="fidelity",
            )
        )
        register_nav_item(
            NavItem(
                _("Exposures"),
                "fidelity:exposures",
                perm="configure_trial",
                order=65,
                group="fidelity",
            )
        )
        register_nav_item(
            NavItem(
                _("Contamination rates"),
                "fidelity_dashboards:contamination",
                perm="view_dashboard",
                order=66,
                also=("view_allocation",),
                group="fidelity",
            )
        )
