"""The fidelity API: the trial's components (``api.py``) and each sub-domain's endpoints."""

from django.urls import include, path

from fidelity import api

urlpatterns = [
    path("trials/<slug:code>/components/", api.ComponentList.as_view(), name="component-list"),
    path("", include("fidelity.contacts.api_urls")),
    path("", include("fidelity.contamination.api_urls")),
    path("", include("fidelity.adaptations.api_urls")),
    path("", include("fidelity.scales.api_urls")),
    path("", include("fidelity.reviews.api_urls")),
]
