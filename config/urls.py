from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts import oidc
from accounts.api import obtain_token, token_list, token_revocation
from accounts.views import LoginView
from config.health import health

api_v1: list[URLPattern | URLResolver] = [
    path("", include("instruments.api_urls")),
    path("", include("trial.api_urls")),
    path("", include("randomisation.api_urls")),
    path("", include("fidelity.api_urls")),
    path("", include("reports.api_urls")),
    path("", include("occupations.api_urls")),
    path("", include("pathways.api_urls")),
    path("", include("economics.api_urls")),
    path("", include("instruments.dictionary.api_urls")),
    path("", include("instruments.setup.api_urls")),
    path("", include("surveys.consent.api_urls")),
    path("", include("surveys.api_urls")),
    path("auth/token/", obtain_token, name="token"),
    path("auth/tokens/", token_list, name="token-list"),
    path("auth/tokens/revocation/", token_revocation, name="token-revocation"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="v1:schema"), name="docs"),
]

urlpatterns = [
    path("", include("instruments.urls")),
    path("", include("trial.urls")),
    path("", include("randomisation.urls")),
    path("", include("reports.urls")),
    path("", include("fidelity.urls")),
    path("", include("fidelity.reviews.urls")),
    path("", include("fidelity.dashboards.urls")),
    path("", include("occupations.urls")),
    path("", include("pathways.urls")),
    path("", include("economics.urls")),
    path("", include("trialimport.urls")),
    path("", include("instruments.dictionary.urls")),
    path("", include("instruments.setup.urls")),
    path("", include("accounts.urls")),
    path("", include("surveys.urls")),
    path("", include("surveys.staff_urls")),
    path("", include("surveys.consent.urls")),
    path("", include("surveys.consent.staff_urls")),
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/logout/", oidc.sign_out, name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/v1/", include((api_v1, "v1"), namespace="v1")),
    path("health/", health, name="health"),
]

# Inside /api/ Django's own 404 and 500 answer with the API's error body (config.api).
handler404 = "config.api.page_not_found"
handler500 = "config.api.server_error"
