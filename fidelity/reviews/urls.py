"""The pages named ``fidelity_reviews:<name>``: reviews (here) and the scales they are scored
on (``fidelity/scales/urls.py``, included under this namespace: Django keeps one resolver per
namespace)."""

from django.urls import include, path

from fidelity.reviews import views

app_name = "fidelity_reviews"
T = "trials/<slug:code>/fidelity/"
R = T + "reviews/<int:review_id>/"
urlpatterns = [
    path(T + "reviews/", views.reviews, name="reviews"),
    path(T + "reviews/new/", views.review_new, name="review_new"),
    path(R, views.review, name="review"),
    path(R + "score/", views.score, name="score"),
    path(R + "consensus/", views.consensus, name="consensus"),
    path(R + "finalise/", views.finalise, name="finalise"),
    path(T + "trends/", views.trends, name="trends"),
    path("", include("fidelity.scales.urls")),
]
