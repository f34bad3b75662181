from django.urls import path

from trial import views

app_name = "trial"
urlpatterns = [
    path("", views.home, name="home"),
    path("trials/<slug:code>/", views.dashboard, name="dashboard"),
    path("trials/<slug:code>/participants/", views.participants, name="participants"),
    path(
        "trials/<slug:code>/participants/<str:study_id>/",
        views.participant,
        name="participant",
    ),
    path("trials/<slug:code>/audit/", views.audit, name="audit"),
]
