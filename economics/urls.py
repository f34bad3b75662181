from django.urls import path

from economics import views

app_name = "economics"
T = "trials/<slug:code>/economics/"
urlpatterns = [
    path(T, views.unit_costs, name="unit_costs"),
    path(T + "import/", views.import_csv, name="import"),
    path(T + "settings/", views.economic_settings, name="settings"),
    path(T + "costs/<int:cost_id>/", views.unit_cost_edit, name="edit"),
    path(T + "costs/<int:cost_id>/delete/", views.unit_cost_delete, name="delete"),
]
