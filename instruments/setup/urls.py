"""Pages for defining a trial's instruments (included from config/urls.py).

Every page of one instrument ends in a word of its own (``edit/``, ``versions/``…), so that
other pages under ``trials/<code>/instruments/`` cannot be read as an instrument's code.
"""

from django.urls import path

from instruments.setup import rows, views

app_name = "instruments_setup"

LIST = "trials/<slug:code>/instruments/"
ONE = f"{LIST}<slug:instrument>/"

urlpatterns = [
    path(LIST, views.instrument_list, name="list"),
    path(f"{LIST}new/", views.new_instrument, name="new"),
    path(f"{LIST}add-builtin/", views.add_builtin, name="add_builtin"),
    path(f"{ONE}edit/", views.edit_instrument, name="edit"),
    path(f"{ONE}settings/", views.edit_settings, name="settings"),
    path(f"{ONE}items/new/", rows.add_item, name="add_item"),
    path(f"{ONE}items/<int:number>/", rows.edit_item, name="edit_item"),
    path(f"{ONE}items/<int:number>/move/", rows.move_item, name="move_item"),
    path(f"{ONE}items/<int:number>/remove/", rows.remove_item, name="remove_item"),
    path(f"{ONE}scales/new/", rows.add_scale, name="add_scale"),
    path(f"{ONE}scales/library/", rows.add_library_scale, name="add_library_scale"),
    path(f"{ONE}scales/<int:number>/", rows.edit_scale, name="edit_scale"),
    path(f"{ONE}scales/<int:number>/remove/", rows.remove_scale, name="remove_scale"),
    path(f"{ONE}visits/", views.instrument_visits, name="visits"),
    path(f"{ONE}versions/", views.instrument_versions, name="versions"),
    path(f"{ONE}remove/", views.remove_instrument, name="remove"),
]
