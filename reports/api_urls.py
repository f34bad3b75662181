from django.urls import path

from reports import api

urlpatterns = [
    path(
        "trials/<slug:code>/analysis-plans/",
        api.AnalysisPlanList.as_view(),
        name="analysis-plan-list",
    ),
    path(
        "trials/<slug:code>/analysis-unblinding/",
        api.AnalysisUnblindingView.as_view(),
        name="analysis-unblinding",
    ),
    path("trials/<slug:code>/reports/", api.ReportList.as_view(), name="report-list"),
    path("trials/<slug:code>/consort.svg", api.ConsortSVG.as_view(), name="consort-svg"),
    path(
        "trials/<slug:code>/reports/<int:report_id>/",
        api.ReportDetail.as_view(),
        name="report-detail",
    ),
]
