"""Simulations, named ``randomisation:<name>`` (included from ``randomisation/urls.py``)."""

from django.urls import path

from randomisation.simulation import views

T = "trials/<slug:code>/randomisation/"
urlpatterns = [
    path(T + "simulations/", views.simulations, name="simulations"),
    path(T + "simulations/<int:run_id>/", views.simulation, name="simulation"),
]
