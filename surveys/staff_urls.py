from django.urls import path

from surveys import staff_views

app_name = "surveys_staff"
urlpatterns = [
    path(
        "trials/<slug:code>/participants/<str:study_id>/contact/",
        staff_views.contact,
        name="contact",
    ),
    path("trials/<slug:code>/participant-links/", staff_views.link_settings, name="settings"),
]
