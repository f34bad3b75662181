from django.urls import path

from fidelity.contamination import api

T = "trials/<slug:code>/"
urlpatterns = [
    path(T + "exposures/", api.ExposureList.as_view(), name="exposure-list"),
    path(T + "site-events/", api.SiteEventList.as_view(), name="site-event-list"),
    path(
        T + "site-events/<int:exposure_id>/removal/",
        api.SiteEventRemoval.as_view(),
        name="site-event-removal",
    ),
]
