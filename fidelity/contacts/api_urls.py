from django.urls import path

from fidelity.contacts import api

T = "trials/<slug:code>/contacts/"
urlpatterns = [
    path(T, api.ContactList.as_view(), name="contact-list"),
    path(T + "batch/", api.ContactBatch.as_view(), name="contact-batch"),
    path(T + "<int:contact_id>/", api.ContactDetail.as_view(), name="contact-detail"),
]
