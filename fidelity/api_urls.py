from django.urls import path

from fidelity import api, review_api

urlpatterns = [
    path("trials/<slug:code>/components/", api.ComponentList.as_view(), name="component-list"),
    path("trials/<slug:code>/contacts/", api.ContactList.as_view(), name="contact-list"),
    path("trials/<slug:code>/contacts/batch/", api.ContactBatch.as_view(), name="contact-batch"),
    path(
        "trials/<slug:code>/contacts/<int:contact_id>/",
        api.ContactDetail.as_view(),
        name="contact-detail",
    ),
    path("trials/<slug:code>/exposures/", api.ExposureList.as_view(), name="exposure-list"),
    path("trials/<slug:code>/site-events/", api.SiteEventList.as_view(), name="site-event-list"),
    path(
        "trials/<slug:code>/site-events/<int:exposure_id>/removal/",
        api.SiteEventRemoval.as_view(),
        name="site-event-removal",
    ),
    path(
        "trials/<slug:code>/fidelity/adaptations/",
        api.AdaptationList.as_view(),
        name="adaptation-list",
    ),
    path(
        "trials/<slug:code>/fidelity/adaptations/<int:adaptation_id>/",
        api.AdaptationDetail.as_view(),
        name="adaptation-detail",
    ),
    path(
        "trials/<slug:code>/fidelity/scales/",
        review_api.ScaleList.as_view(),
        name="fidelity-scale-list",
    ),
    path(
        "trials/<slug:code>/fidelity/reviews/",
        review_api.ReviewList.as_view(),
        name="fidelity-review-list",
    ),
    path(
        "trials/<slug:code>/fidelity/reviews/<int:review_id>/",
        review_api.ReviewDetail.as_view(),
        name="fidelity-review-detail",
    ),
    path(
        "trials/<slug:code>/fidelity/reviews/<int:review_id>/scores/",
        review_api.ReviewScores.as_view(),
        name="fidelity-review-scores",
    ),
]
