"""Staff pages under /staff/."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import URLPattern, path

from allot.backoffice import views

app_name = "backoffice"

urlpatterns: list[URLPattern] = [
    path("login/", views.StaffLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="backoffice:login"), name="logout"),
    path("2fa/", views.otp, name="otp"),
    path("", views.home, name="home"),
    path("redeem/", views.redeem, name="redeem"),
    path("draws/", views.draw_list, name="draws"),
    path("draws/run-now/", views.draw_run_now, name="draw-run-now"),
    path("draws/<int:pk>/verify/", views.draw_verify, name="draw-verify"),
    path("draws/<int:pk>/notary/", views.draw_notary, name="draw-notary"),
    path("draws/<int:pk>/beacon/", views.draw_beacon, name="draw-beacon"),
    path("draws/<int:pk>/run/", views.draw_execute, name="draw-execute"),
    path("eligibility/upload/", views.eligibility_upload, name="eligibility-upload"),
    path("registrations/", views.registration_find, name="registrations"),
    path("registrations/<int:pk>/", views.registration_detail, name="registration"),
    path("registrations/<int:pk>/reveal/", views.registration_reveal, name="registration-reveal"),
    path("exports/", views.export_list, name="exports"),
    path("exports/<int:pk>/approve/", views.export_approve, name="export-approve"),
    path("exports/<int:pk>/download/", views.export_download, name="export-download"),
    path("manifests/", views.manifest_list, name="manifests"),
    path("manifests/<slug:slug>/", views.manifest_detail, name="manifest"),
    path("manifests/<slug:slug>/download/", views.manifest_download, name="manifest-download"),
]
