from django.urls import path

from pathways import api

urlpatterns = [
    path("trials/<slug:code>/pathways/states/", api.StateList.as_view(), name="state-list"),
    path("trials/<slug:code>/pathways/spells/", api.SpellList.as_view(), name="spell-list"),
    path(
        "trials/<slug:code>/pathways/sequences/",
        api.SequenceTable.as_view(),
        name="sequence-table",
    ),
]
