"""The randomisation API: each sub-domain's endpoints (only allocation has some)."""

from django.urls import include, path

urlpatterns = [
    path("", include("randomisation.allocation.api_urls")),
]
