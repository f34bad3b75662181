from django.urls import path

from surveys.consent import views

app_name = "consent"
urlpatterns = [
    path("c/<str:token>/", views.page, name="page"),
    path("c/<str:token>/withdraw/", views.withdraw, name="withdraw"),
]
