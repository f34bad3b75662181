from django.urls import path

from randomisation.allocation import api

urlpatterns = [
    path(
        "trials/<slug:code>/participants/<str:study_id>/randomisation/",
        api.Randomise.as_view(),
        name="randomise",
    ),
    path("trials/<slug:code>/allocations/", api.AllocationList.as_view(), name="allocation-list"),
]
