from django.urls import path

from fidelity import api

urlpatterns = [
    path("trials/<slug:code>/components/", api.ComponentList.as_view(), name="component-list"),
    path("trials/<slug:code>/contacts/", api.ContactList.as_view(), name="contact-list"),
    path(
        "trials/<slug:code>/contacts/<int:contact_id>/",
        api.ContactDetail.as_view(),
        name="contact-detail",
    ),
    path("trials/<slug:code>/exposures/", api.ExposureList.as_view(), name="exposure-list"),
]
