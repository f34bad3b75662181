"""API routes for recording and reading answers (included in config/urls.py's ``api_v1``)."""

from django.urls import path

from instruments import api

TRIAL = "trials/<slug:code>/"
VISIT = f"{TRIAL}visits/<int:visit_id>/"
ASSESSMENTS = f"{TRIAL}assessments/"

urlpatterns = [
    path(f"{VISIT}assessment/", api.VisitAssessment.as_view(), name="visit-assessment"),
    path(ASSESSMENTS, api.AssessmentList.as_view(), name="assessment-list"),
    path(
        f"{ASSESSMENTS}<int:assessment_id>/correction/",
        api.AssessmentCorrection.as_view(),
        name="assessment-correction",
    ),
    path(f"{TRIAL}instruments/schema/", api.AnswersSchema.as_view(), name="instrument-schema"),
]
