from django.urls import path

from surveys.consent import staff_views, views

app_name = "consent_staff"
T = "trials/<slug:code>/consent/"
P = "trials/<slug:code>/participants/<str:study_id>/consent/"
urlpatterns = [
    path(T, staff_views.texts, name="texts"),
    path(T + "new/", staff_views.new, name="new"),
    path(T + "<int:text_id>/", staff_views.edit, name="edit"),
    path(T + "<int:text_id>/publish/", staff_views.publish, name="publish"),
    path(T + "<int:text_id>/reconsent/", staff_views.reconsent, name="reconsent"),
    path(T + "records/<int:record_id>/pdf/", staff_views.record_pdf, name="pdf"),
    path(P, views.staff_device, name="device"),
    path(P + "send/", staff_views.send_link, name="send"),
]
