from django.urls import path

from instruments.dictionary import views

app_name = "instruments_dictionary"
T = "trials/<slug:code>/dictionary/"
urlpatterns = [
    path(T, views.dictionary, name="dictionary"),
    path(T + "download/", views.download, name="download"),
    path(T + "import/", views.import_page, name="import"),
]
