"""The import pages.

Included from ``randomisation/urls.py`` (``path("", include("randomisation.import_urls"))``),
so the names are ``randomisation:import``, ``randomisation:import_detail`` and
``randomisation:import_confirm``: Django keeps
one resolver per namespace, so a second top-level include under ``randomisation`` would be
unreachable.
"""

from django.urls import path

from randomisation import import_views

T = "trials/<slug:code>/"
urlpatterns = [
    path(T + "import/", import_views.upload, name="import"),
    path(T + "import/<int:import_id>/", import_views.detail, name="import_detail"),
    path(T + "import/<int:import_id>/import/", import_views.confirm, name="import_confirm"),
]
