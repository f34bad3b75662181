from django.urls import path

from surveys.consent import api

T = "trials/<slug:code>/consent/"
urlpatterns = [
    path(T + "texts/", api.ConsentTextList.as_view(), name="consent-text-list"),
    path(T + "texts/<int:text_id>/", api.ConsentTextDetail.as_view(), name="consent-text-detail"),
    path(
        T + "texts/<int:text_id>/publish/",
        api.ConsentTextPublish.as_view(),
        name="consent-text-publish",
    ),
    path(
        T + "texts/<int:text_id>/reconsent/",
        api.ConsentTextReconsent.as_view(),
        name="consent-text-reconsent",
    ),
    path(T + "records/", api.ConsentRecordList.as_view(), name="consent-record-list"),
]
