"""API routes for defining instruments (included in config/urls.py's ``api_v1``)."""

from django.urls import path

from instruments.setup import api

ONE = "trials/<slug:code>/instruments/<slug:instrument>/"

urlpatterns = [
    path("trials/<slug:code>/instruments/", api.InstrumentList.as_view(), name="instrument-list"),
    path(ONE, api.InstrumentDetail.as_view(), name="instrument-detail"),
    path(f"{ONE}visits/", api.InstrumentVisits.as_view(), name="instrument-visits"),
]
