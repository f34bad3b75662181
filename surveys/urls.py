from django.urls import path

from surveys import views

app_name = "surveys"
urlpatterns = [
    path("q/<str:token>/", views.answer, name="answer"),
    path("q/<str:token>/thanks/", views.thanks, name="thanks"),
    path("q/<str:token>/opt-out/", views.opt_out, name="opt_out"),
]
