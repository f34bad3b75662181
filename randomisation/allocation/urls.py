"""Allocating and the allocation log, named ``randomisation:<name>`` (included from
``randomisation/urls.py``)."""

from django.urls import path

from randomisation.allocation import views

T = "trials/<slug:code>/randomisation/"
P = "trials/<slug:code>/participants/<str:study_id>/"
urlpatterns = [
    path(T + "log/", views.log, name="log"),
    path(T + "verify/", views.verify, name="verify"),
    path(T + "export/<slug:kind>.csv", views.export, name="export"),
    path(T + "allocations/<int:sequence>/in-error/", views.in_error, name="in_error"),
    path(P + "randomise/", views.randomise, name="randomise"),
    path(P + "manual-allocation/", views.manual, name="manual"),
    path(P + "unblind/", views.unblind, name="unblind"),
]
