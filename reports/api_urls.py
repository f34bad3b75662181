from django.urls import path

from reports import api

T = "trials/<slug:code>/"

urlpatterns = [
    path(T + "analysis-plans/", api.AnalysisPlanList.as_view(), name="analysis-plan-list"),
    path(
        T + "analysis-unblinding/", api.AnalysisUnblindingView.as_view(), name="analysis-unblinding"
    ),
    path(T + "reports/", api.ReportList.as_view(), name="report-list"),
    path(T + "consort.svg", api.ConsortSVG.as_view(), name="consort-svg"),
    path(T + "reports/<int:report_id>/", api.ReportDetail.as_view(), name="report-detail"),
]
