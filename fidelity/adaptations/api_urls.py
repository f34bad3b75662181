from django.urls import path

from fidelity.adaptations import api

T = "trials/<slug:code>/fidelity/adaptations/"
urlpatterns = [
    path(T, api.AdaptationList.as_view(), name="adaptation-list"),
    path(T + "<int:adaptation_id>/", api.AdaptationDetail.as_view(), name="adaptation-detail"),
]
