from django.urls import path

from instruments import views

app_name = "instruments"
urlpatterns = [
    path("trials/<slug:code>/visits/<int:visit_id>/assess/", views.assess, name="assess"),
    path(
        "trials/<slug:code>/assessments/<int:assessment_id>/correct/",
        views.correct,
        name="correct",
    ),
]
