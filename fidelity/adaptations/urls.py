"""The adaptation pages, named ``fidelity:<name>`` (included from ``fidelity/urls.py``)."""

from django.urls import path

from fidelity.adaptations import views

T = "trials/<slug:code>/fidelity/adaptations/"
urlpatterns = [
    path(T, views.adaptations, name="adaptations"),
    path(T + "<int:adaptation_id>/edit/", views.edit_adaptation, name="edit_adaptation"),
]
