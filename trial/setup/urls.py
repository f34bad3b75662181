from django.urls import path

from trial.setup import views

app_name = "setup"

SETUP = "trials/<slug:code>/setup/"

urlpatterns = [
    path("trials/new/", views.new_trial, name="new_trial"),
    path(SETUP, views.overview, name="overview"),
    path(f"{SETUP}settings/", views.edit_trial, name="edit_trial"),
    path(f"{SETUP}status/", views.change_status, name="change_status"),
    path(f"{SETUP}arms/new/", views.add_arm, name="add_arm"),
    path(f"{SETUP}arms/<int:pk>/", views.edit_arm, name="edit_arm"),
    path(f"{SETUP}arms/<int:pk>/remove/", views.remove_arm, name="remove_arm"),
    path(f"{SETUP}sites/new/", views.add_site, name="add_site"),
    path(f"{SETUP}sites/<int:pk>/", views.edit_site, name="edit_site"),
    path(f"{SETUP}sites/<int:pk>/remove/", views.remove_site, name="remove_site"),
    path(f"{SETUP}members/new/", views.add_member, name="add_member"),
    path(f"{SETUP}members/<int:pk>/", views.edit_member, name="edit_member"),
    path(f"{SETUP}members/<int:pk>/remove/", views.remove_member, name="remove_member"),
    path(f"{SETUP}exclusion-reasons/new/", views.add_reason, name="add_reason"),
    path(f"{SETUP}exclusion-reasons/<int:pk>/", views.edit_reason, name="edit_reason"),
    path(f"{SETUP}exclusion-reasons/<int:pk>/remove/", views.remove_reason, name="remove_reason"),
    path(f"{SETUP}covariates/new/", views.add_covariate, name="add_covariate"),
    path(f"{SETUP}covariates/<int:pk>/", views.edit_covariate, name="edit_covariate"),
    path(f"{SETUP}covariates/<int:pk>/remove/", views.remove_covariate, name="remove_covariate"),
    path(f"{SETUP}visits/new/", views.add_visit, name="add_visit"),
    path(f"{SETUP}visits/<int:pk>/", views.edit_visit, name="edit_visit"),
    path(f"{SETUP}visits/<int:pk>/remove/", views.remove_visit, name="remove_visit"),
]
