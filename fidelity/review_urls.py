from django.urls import path

from fidelity import review_views as views

app_name = "fidelity_reviews"
T = "trials/<slug:code>/fidelity/"
R = T + "reviews/<int:review_id>/"
S = T + "scales/<int:scale_id>/"
urlpatterns = [
    path(T + "reviews/", views.reviews, name="reviews"),
    path(T + "reviews/new/", views.review_new, name="review_new"),
    path(R, views.review, name="review"),
    path(R + "score/", views.score, name="score"),
    path(R + "consensus/", views.consensus, name="consensus"),
    path(R + "finalise/", views.finalise, name="finalise"),
    path(T + "trends/", views.trends, name="trends"),
    path(T + "scales/", views.scale_list, name="scales"),
    path(T + "scales/add-template/", views.scale_add_template, name="scale_add_template"),
    path(T + "scales/new/", views.scale_edit, name="scale_new"),
    path(S, views.scale_detail, name="scale"),
    path(S + "edit/", views.scale_edit, name="scale_edit"),
    path(S + "items/new/", views.item_edit, name="item_new"),
    path(S + "items/<int:number>/", views.item_edit, name="item_edit"),
]
