from django.urls import path

from trial import api

urlpatterns = [
    path("me/", api.MeView.as_view(), name="me"),
    path("trials/", api.TrialList.as_view(), name="trial-list"),
    path("trials/<slug:code>/", api.TrialDetail.as_view(), name="trial-detail"),
    path("trials/<slug:code>/sites/", api.SiteList.as_view(), name="site-list"),
    path("trials/<slug:code>/arms/", api.ArmList.as_view(), name="arm-list"),
    path(
        "trials/<slug:code>/participants/",
        api.ParticipantList.as_view(),
        name="participant-list",
    ),
    path(
        "trials/<slug:code>/participants/<str:study_id>/",
        api.ParticipantDetail.as_view(),
        name="participant-detail",
    ),
    path(
        "trials/<slug:code>/participants/<str:study_id>/withdrawal/",
        api.ParticipantWithdrawal.as_view(),
        name="participant-withdrawal",
    ),
    path(
        "trials/<slug:code>/participants/<str:study_id>/loss-to-follow-up/",
        api.ParticipantLoss.as_view(),
        name="participant-loss",
    ),
    path("trials/<slug:code>/screening/", api.ScreeningList.as_view(), name="screening-list"),
    path("trials/<slug:code>/visits/", api.VisitList.as_view(), name="visit-list"),
    path(
        "trials/<slug:code>/visits/<int:visit_id>/missed/",
        api.VisitMissed.as_view(),
        name="visit-missed",
    ),
    path(
        "trials/<slug:code>/audit-events/",
        api.AuditEventList.as_view(),
        name="auditevent-list",
    ),
]
