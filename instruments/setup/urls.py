"""Pages for defining a trial's instruments (included from config/urls.py).

Every page of one instrument ends in a word of its own (``edit/``, ``versions/``…), so that
other pages under ``trials/<code>/instruments/`` cannot be read as an instrument's code. The
pages of its rows (``rows.py``) are grouped under ``items/`` and ``scales/``; the groups add no
namespace, so every name is ``instruments_setup:<name>``.
"""

from django.urls import include, path

from instruments.setup import rows, views

app_name = "instruments_setup"

LIST = "trials/<slug:code>/instruments/"
ONE = f"{LIST}<slug:instrument>/"
ROW = "<int:number>/"

items = [
    path("new/", rows.add_item, name="add_item"),
    path(ROW, rows.edit_item, name="edit_item"),
    path(f"{ROW}move/", rows.move_item, name="move_item"),
    path(f"{ROW}remove/", rows.remove_item, name="remove_item"),
]
scales = [
    path("new/", rows.add_scale, name="add_scale"),
    path("library/", rows.add_library_scale, name="add_library_scale"),
    path(ROW, rows.edit_scale, name="edit_scale"),
    path(f"{ROW}remove/", rows.remove_scale, name="remove_scale"),
]

urlpatterns = [
    path(LIST, views.instrument_list, name="list"),
    path(f"{LIST}new/", views.new_instrument, name="new"),
    path(f"{LIST}add-builtin/", views.add_builtin, name="add_builtin"),
    path(f"{ONE}edit/", views.edit_instrument, name="edit"),
    path(f"{ONE}settings/", views.edit_settings, name="settings"),
    path(f"{ONE}items/", include(items)),
    path(f"{ONE}scales/", include(scales)),
    path(f"{ONE}visits/", views.instrument_visits, name="visits"),
    path(f"{ONE}versions/", views.instrument_versions, name="versions"),
    path(f"{ONE}remove/", views.remove_instrument, name="remove"),
]
