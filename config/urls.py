from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts import oidc
from accounts.api import obtain_token, token_list, token_revocation
from accounts.views import LoginView
from config.health import health

# Each app's URL modules, in the order their patterns are tried.
API_URLS = (
    "instruments.api_urls",
    "trial.api_urls",
    "randomisation.api_urls",
    "fidelity.api_urls",
    "reports.api_urls",
    "occupations.api_urls",
    "pathways.api_urls",
    "economics.api_urls",
    "instruments.dictionary.api_urls",
    "instruments.setup.api_urls",
    "surveys.consent.api_urls",
    "surveys.api_urls",
)
PAGE_URLS = (
    "instruments.urls",
    "trial.urls",
    "randomisation.urls",
    "reports.urls",
    "fidelity.urls",
    "fidelity.reviews.urls",
    "fidelity.dashboards.urls",
    "occupations.urls",
    "pathways.urls",
    "economics.urls",
    "trialimport.urls",
    "instruments.dictionary.urls",
    "instruments.setup.urls",
    "accounts.urls",
    "surveys.urls",
    "surveys.staff_urls",
    "surveys.consent.urls",
    "surveys.consent.staff_urls",
)

api_v1: list[URLPattern | URLResolver] = [
    *(path("", include(module)) for module in API_URLS),
    path("auth/token/", obtain_token, name="token"),
    path("auth/tokens/", token_list, name="token-list"),
    path("auth/tokens/revocation/", token_revocation, name="token-revocation"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="v1:schema"), name="docs"),
]

urlpatterns = [
    *(path("", include(module)) for module in PAGE_URLS),
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
