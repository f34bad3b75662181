from django.urls import path

from fidelity.reviews import api

T = "trials/<slug:code>/fidelity/reviews/"
urlpatterns = [
    path(T, api.ReviewList.as_view(), name="fidelity-review-list"),
    path(T + "<int:review_id>/", api.ReviewDetail.as_view(), name="fidelity-review-detail"),
    path(T + "<int:review_id>/scores/", api.ReviewScores.as_view(), name="fidelity-review-scores"),
]
