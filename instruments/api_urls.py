from django.urls import path

from instruments import api

urlpatterns = [
    path(
        "trials/<slug:code>/visits/<int:visit_id>/assessment/",
        api.VisitAssessment.as_view(),
        name="visit-assessment",
    ),
    path(
        "trials/<slug:code>/assessments/",
        api.AssessmentList.as_view(),
        name="assessment-list",
    ),
    path(
        "trials/<slug:code>/assessments/<int:assessment_id>/correction/",
        api.AssessmentCorrection.as_view(),
        name="assessment-correction",
    ),
    path(
        "trials/<slug:code>/instruments/schema/",
        api.AnswersSchema.as_view(),
        name="instrument-schema",
    ),
]
