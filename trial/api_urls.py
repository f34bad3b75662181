from django.urls import path

from trial import api

T = "trials/<slug:code>/"

urlpatterns = [
    path("me/", api.MeView.as_view(), name="me"),
    path("trials/", api.TrialList.as_view(), name="trial-list"),
    path(T, api.TrialDetail.as_view(), name="trial-detail"),
    path(T + "sites/", api.SiteList.as_view(), name="site-list"),
    path(T + "arms/", api.ArmList.as_view(), name="arm-list"),
    path(T + "participants/", api.ParticipantList.as_view(), name="participant-list"),
    path(
        T + "participants/<str:study_id>/",
        api.ParticipantDetail.as_view(),
        name="participant-detail",
    ),
    path(
        T + "participants/<str:study_id>/withdrawal/",
        api.ParticipantWithdrawal.as_view(),
        name="participant-withdrawal",
    ),
    path(
        T + "participants/<str:study_id>/loss-to-follow-up/",
        api.ParticipantLoss.as_view(),
        name="participant-loss",
    ),
    path(T + "screening/", api.ScreeningList.as_view(), name="screening-list"),
    path(T + "visits/", api.VisitList.as_view(), name="visit-list"),
    path(T + "visits/<int:visit_id>/missed/", api.VisitMissed.as_view(), name="visit-missed"),
    path(T + "audit-events/", api.AuditEventList.as_view(), name="auditevent-list"),
]
