from django.urls import path

from surveys import api

urlpatterns = [
    path("surveys/bounces/", api.provider_report, name="surveys-bounces"),
]
