from django.urls import include, path

from trial import views

app_name = "trial"
urlpatterns = [
    path("", views.home, name="home"),
    # Before the dashboard, so that /trials/new/ is not read as a trial code.
    path("", include("trial.setup.urls")),
    path("trials/<slug:code>/", views.dashboard, name="dashboard"),
    path("trials/<slug:code>/statistics/", views.statistics, name="statistics"),
    path("trials/<slug:code>/participants/", views.participants, name="participants"),
    path(
        "trials/<slug:code>/participants/<str:study_id>/",
        views.participant,
        name="participant",
    ),
    path("trials/<slug:code>/audit/", views.audit, name="audit"),
    path("trials/<slug:code>/screening/", views.screening, name="screening"),
    path("trials/<slug:code>/enrol/", views.enrol, name="enrol"),
    path(
        "trials/<slug:code>/participants/<str:study_id>/lost/",
        views.lost,
        name="lost",
    ),
    path(
        "trials/<slug:code>/participants/<str:study_id>/withdraw/",
        views.withdraw,
        name="withdraw",
    ),
    path("trials/<slug:code>/worklist/", views.worklist, name="worklist"),
]
