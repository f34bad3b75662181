from django.urls import path

from reports import views

app_name = "reports"
T = "trials/<slug:code>/"
urlpatterns = [
    path(T + "analysis-plan/", views.plan_overview, name="plan"),
    path(T + "analysis-plan/edit/", views.plan_edit, name="plan_edit"),
    path(T + "analysis-plan/lock/", views.plan_lock, name="plan_lock"),
    path(T + "analysis-plan/new-version/", views.plan_supersede, name="plan_supersede"),
    path(T + "analysis-plan/unblind/", views.plan_unblind, name="plan_unblind"),
    path(T + "analysis-plan/v<int:version>/", views.plan_version, name="plan_version"),
    path(T + "reports/", views.report_list, name="list"),
    path(T + "reports/consort.svg", views.consort_svg, name="consort_svg"),
    path(T + "report-downloads/", views.download_log, name="downloads"),
    path(T + "reports/<int:report_id>/", views.report_detail, name="detail"),
    path(
        T + "reports/<int:report_id>/download/<slug:which>/",
        views.download,
        name="download",
    ),
]
