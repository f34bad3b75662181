from django.urls import path

from occupations import views

app_name = "occupations"

T = "trials/<slug:code>/job-strain/"
urlpatterns = [
    path(T, views.job_strain, name="job_strain"),
    path(T + "matrices/", views.matrices, name="matrices"),
    path(T + "matrices/<int:pk>/", views.matrix_detail, name="matrix"),
    path(T + "matrices/<int:pk>/activate/", views.activate, name="activate"),
]
