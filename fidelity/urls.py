from django.urls import path

from fidelity import views

app_name = "fidelity"
T = "trials/<slug:code>/"
urlpatterns = [
    path(T + "contacts/", views.contacts, name="contacts"),
    path(T + "contacts/employer/", views.employer_contact, name="employer_contact"),
    path(T + "contacts/participants/", views.participant_search, name="participant_search"),
    path(T + "contacts/all/", views.contact_list, name="contact_list"),
    path(T + "contacts/<int:contact_id>/edit/", views.edit_contact, name="edit_contact"),
    path(T + "contamination/", views.exposures, name="exposures"),
    path(T + "fidelity/adaptations/", views.adaptations, name="adaptations"),
    path(
        T + "fidelity/adaptations/<int:adaptation_id>/edit/",
        views.edit_adaptation,
        name="edit_adaptation",
    ),
    path(T + "contamination/site-events/", views.site_events, name="site_events"),
    path(
        T + "contamination/site-events/<int:exposure_id>/remove/",
        views.remove_site_event,
        name="remove_site_event",
    ),
    path(T + "contamination/staff/", views.staff, name="staff"),
    path(
        T + "contamination/staff/<int:membership_id>/",
        views.staff_member,
        name="staff_member",
    ),
    path(
        T + "contamination/staff/<int:membership_id>/<int:assignment_id>/remove/",
        views.remove_assignment,
        name="remove_assignment",
    ),
]
