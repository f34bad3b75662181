from django.urls import path

from occupations import api

urlpatterns = [
    path("occupations/", api.OccupationList.as_view(), name="occupation-list"),
    path("trials/<slug:code>/jems/", api.MatrixList.as_view(), name="jem-list"),
    path(
        "trials/<slug:code>/jems/<int:pk>/entries/",
        api.MatrixEntryList.as_view(),
        name="jem-entry-list",
    ),
]
