from django.urls import path

from economics import api

urlpatterns = [
    path(
        "trials/<slug:code>/economics/unit-costs/",
        api.UnitCostList.as_view(),
        name="unit-cost-list",
    ),
]
