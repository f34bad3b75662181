from django.urls import path

from fidelity import dashboard_views

app_name = "fidelity_dashboards"
T = "trials/<slug:code>/dashboards/"
urlpatterns = [
    path(T + "dose/", dashboard_views.dose, name="dose"),
    path(T + "contamination/", dashboard_views.contamination, name="contamination"),
]
