from django.urls import path

from accounts import views

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
    path(
        "trials/<slug:code>/setup/members/<int:pk>/api-tokens/",
        views.member_tokens,
        name="member_tokens",
    ),
]
