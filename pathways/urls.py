from django.urls import path

from pathways import views

app_name = "pathways"
T = "trials/<slug:code>/pathways/"
urlpatterns = [
    path(T, views.overview, name="overview"),
    path(T + "import/", views.upload, name="import"),
    path(T + "imports/", views.history, name="imports"),
    path(T + "imports/<int:import_id>/", views.import_detail, name="import_detail"),
    path(T + "imports/<int:import_id>/status/", views.import_status, name="import_status"),
    path(T + "imports/<int:import_id>/confirm/", views.import_confirm, name="import_confirm"),
    path(T + "imports/<int:import_id>/cancel/", views.import_cancel, name="import_cancel"),
    path(T + "flags/", views.flags, name="flags"),
    path(T + "flags/<int:flag_id>/review/", views.flag_review, name="flag_review"),
    path(T + "alphabet/", views.alphabet, name="alphabet"),
    path(T + "alphabet/standard/", views.alphabet_standard, name="alphabet_standard"),
    path(T + "alphabet/<int:state_id>/", views.state_edit, name="state_edit"),
    path(T + "alphabet/<int:state_id>/delete/", views.state_delete, name="state_delete"),
    path(T + "settings/", views.sequence_settings, name="settings"),
]
