"""Randomising sites, named ``randomisation:sites`` (included from ``randomisation/urls.py``)."""

from django.urls import path

from randomisation.cluster import views

urlpatterns = [
    path("trials/<slug:code>/randomisation/sites/", views.randomise_sites, name="sites"),
]
