from django.urls import include, path

from randomisation import scheme_views, views

app_name = "randomisation"
T = "trials/<slug:code>/"
P = "trials/<slug:code>/participants/<str:study_id>/"
urlpatterns = [
    # Scheme, sealed lists, log, exports, simulation (scheme_views).
    path(T + "randomisation/", scheme_views.overview, name="overview"),
    path(T + "randomisation/scheme/", scheme_views.scheme, name="scheme"),
    path(T + "randomisation/scheme/lock/", scheme_views.lock, name="lock"),
    path(T + "randomisation/commitment/", scheme_views.commitment, name="commitment"),
    path(T + "randomisation/log/", scheme_views.log, name="log"),
    path(T + "randomisation/verify/", scheme_views.verify, name="verify"),
    path(T + "randomisation/sealed-list/", scheme_views.sealed_list, name="sealed_list"),
    path(T + "randomisation/export/<slug:kind>.csv", scheme_views.export, name="export"),
    path(T + "randomisation/simulations/", scheme_views.simulations, name="simulations"),
    path(
        T + "randomisation/simulations/<int:run_id>/",
        scheme_views.simulation,
        name="simulation",
    ),
    # Allocating (views).
    path(T + "randomisation/sites/", views.randomise_sites, name="sites"),
    path(
        T + "randomisation/allocations/<int:sequence>/in-error/",
        views.in_error,
        name="in_error",
    ),
    path(P + "randomise/", views.randomise, name="randomise"),
    path(P + "manual-allocation/", views.manual, name="manual"),
    path(P + "unblind/", views.unblind, name="unblind"),
    path("", include("randomisation.import_urls")),
]
