from django.urls import include, path

from randomisation import views

app_name = "randomisation"
urlpatterns = [
    path("trials/<slug:code>/randomisation/", views.overview, name="overview"),
    # Each sub-domain's pages, under this namespace: Django keeps one resolver per namespace,
    # so a second top-level include under ``randomisation`` would be unreachable.
    path("", include("randomisation.schemes.urls")),
    path("", include("randomisation.allocation.urls")),
    path("", include("randomisation.simulation.urls")),
    path("", include("randomisation.cluster.urls")),
]
