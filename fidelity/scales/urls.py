"""The scale pages, named ``fidelity_reviews:<name>`` (included from ``reviews/urls.py``)."""

from django.urls import path

from fidelity.scales import views

T = "trials/<slug:code>/fidelity/scales/"
S = T + "<int:scale_id>/"
urlpatterns = [
    path(T, views.scale_list, name="scales"),
    path(T + "add-template/", views.scale_add_template, name="scale_add_template"),
    path(T + "new/", views.scale_edit, name="scale_new"),
    path(S, views.scale_detail, name="scale"),
    path(S + "edit/", views.scale_edit, name="scale_edit"),
    path(S + "items/new/", views.item_edit, name="item_new"),
    path(S + "items/<int:number>/", views.item_edit, name="item_edit"),
]
