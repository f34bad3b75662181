"""The pages named ``fidelity:<name>``: the contact log, contamination records and adaptations,
each sub-domain's patterns in its own ``urls.py`` (no ``app_name`` there: Django keeps one
resolver per namespace). Reviews and scales are ``fidelity_reviews:<name>``
(``reviews/urls.py``), the dashboards ``fidelity_dashboards:<name>`` (``dashboards/urls.py``)."""

from django.urls import include, path

app_name = "fidelity"
urlpatterns = [
    path("", include("fidelity.contacts.urls")),
    path("", include("fidelity.contamination.urls")),
    path("", include("fidelity.adaptations.urls")),
]
