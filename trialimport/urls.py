"""The import pages: ``trialimport:import`` (choose files), ``trialimport:import_detail`` (a
check or import, with its report) and ``trialimport:import_confirm`` (import checked files)."""

from django.urls import path

from trialimport import views

app_name = "trialimport"
T = "trials/<slug:code>/"
urlpatterns = [
    path(T + "import/", views.upload, name="import"),
    path(T + "import/<int:import_id>/", views.detail, name="import_detail"),
    path(T + "import/<int:import_id>/import/", views.confirm, name="import_confirm"),
]
