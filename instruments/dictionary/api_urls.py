from django.urls import path

from instruments.dictionary import api

urlpatterns = [
    path("trials/<slug:code>/dictionary/", api.DictionaryView.as_view(), name="dictionary"),
]
