from django.urls import path

from fidelity.dashboards import views

app_name = "fidelity_dashboards"
T = "trials/<slug:code>/dashboards/"
urlpatterns = [
    path(T + "dose/", views.dose, name="dose"),
    path(T + "contamination/", views.contamination, name="contamination"),
]
