"""Staff pages under /staff/."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import URLPattern, path

from allot.backoffice import views

app_name = "backoffice"

urlpatterns: list[URLPattern] = [
    path("login/", auth_views.LoginView.as_view(template_name="backoffice/login.html",
                                                redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="backoffice:login"), name="logout"),
    path("", views.home, name="home"),
    path("redeem/", views.redeem, name="redeem"),
    path("draws/", views.draw_list, name="draws"),
    path("draws/run-now/", views.draw_run_now, name="draw-run-now"),
    path("draws/<int:pk>/verify/", views.draw_verify, name="draw-verify"),
    path("draws/<int:pk>/notary/", views.draw_notary, name="draw-notary"),
    path("draws/<int:pk>/beacon/", views.draw_beacon, name="draw-beacon"),
    path("draws/<int:pk>/run/", views.draw_execute, name="draw-execute"),
    path("eligibility/upload/", views.eligibility_upload, name="eligibility-upload"),
]
