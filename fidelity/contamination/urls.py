"""The contamination pages, named ``fidelity:<name>`` (included from ``fidelity/urls.py``)."""

from django.urls import path

from fidelity.contamination import views

T = "trials/<slug:code>/contamination/"
urlpatterns = [
    path(T, views.exposures, name="exposures"),
    path(T + "site-events/", views.site_events, name="site_events"),
    path(
        T + "site-events/<int:exposure_id>/remove/",
        views.remove_site_event,
        name="remove_site_event",
    ),
    path(T + "staff/", views.staff, name="staff"),
    path(T + "staff/<int:membership_id>/", views.staff_member, name="staff_member"),
    path(
        T + "staff/<int:membership_id>/<int:assignment_id>/remove/",
        views.remove_assignment,
        name="remove_assignment",
    ),
]
