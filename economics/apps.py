from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EconomicsConfig(AppConfig):
    name = "economics"
    verbose_name = _("Economic evaluation")

    def ready(self) -> None:
        from trial.extensions import NavItem, register_nav_item

        register_nav_item(
            NavItem(
                _("Unit costs"),
                "economics:unit_costs",
                perm="order_report",
                order=75,
                group="reports",
            )
        )
