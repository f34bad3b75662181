"""The scheme's pages, named ``randomisation:<name>`` (included from ``randomisation/urls.py``)."""

from django.urls import path

from randomisation.schemes import views

T = "trials/<slug:code>/randomisation/"
urlpatterns = [
    path(T + "scheme/", views.scheme, name="scheme"),
    path(T + "scheme/lock/", views.lock, name="lock"),
    path(T + "commitment/", views.commitment, name="commitment"),
    path(T + "sealed-list/", views.sealed_list, name="sealed_list"),
]
