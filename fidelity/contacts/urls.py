"""The contact log's pages, named ``fidelity:<name>`` (included from ``fidelity/urls.py``)."""

from django.urls import path

from fidelity.contacts import views

T = "trials/<slug:code>/contacts/"
urlpatterns = [
    path(T, views.contacts, name="contacts"),
    path(T + "employer/", views.employer_contact, name="employer_contact"),
    path(T + "participants/", views.participant_search, name="participant_search"),
    path(T + "all/", views.contact_list, name="contact_list"),
    path(T + "<int:contact_id>/edit/", views.edit_contact, name="edit_contact"),
]
