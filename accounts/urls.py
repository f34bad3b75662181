from django.urls import path

from accounts import oidc, views

app_name = "accounts"
urlpatterns = [
    path("accounts/two-factor/", views.overview, name="two_factor"),
    path("accounts/two-factor/set-up/", views.setup, name="setup"),
    path("accounts/two-factor/verify/", views.verify, name="verify"),
    path("accounts/two-factor/recovery-codes/", views.recovery_codes, name="recovery_codes"),
    path(
        "accounts/two-factor/recovery-codes/new/",
        views.replace_recovery_codes,
        name="replace_recovery_codes",
    ),
    path("accounts/two-factor/turn-off/", views.disable, name="disable"),
    path("accounts/password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/api-tokens/revoke/", views.revoke_token, name="revoke_token"),
    path("accounts/api-tokens/new/", views.new_token, name="new_token"),
    # Single sign-on (OpenID Connect): 404 while it is off.
    path("accounts/sso/start/", oidc.start, name="oidc_start"),
    path("accounts/sso/callback/", oidc.callback, name="oidc_callback"),
    path("accounts/welcome/", views.welcome, name="welcome"),
    path(
        "trials/<slug:code>/setup/members/<int:pk>/api-tokens/",
        views.member_tokens,
        name="member_tokens",
    ),
]
