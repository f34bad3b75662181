from django.urls import path

from fidelity.scales import api

urlpatterns = [
    path(
        "trials/<slug:code>/fidelity/scales/",
        api.ScaleList.as_view(),
        name="fidelity-scale-list",
    ),
]
