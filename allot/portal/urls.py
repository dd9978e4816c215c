"""Resident pages and the public draw pages (mounted at the site root by config/urls.py)."""

from __future__ import annotations

from django.urls import path, re_path

from allot.portal import views
from allot.portal.firstcome_views import urlpatterns as firstcome_urlpatterns

app_name = "portal"

urlpatterns = [
    path("", views.campaign_list, name="campaign_list"),
    path("c/<slug:slug>/", views.campaign_detail, name="campaign_detail"),
    path("c/<slug:slug>/districts/", views.district_list, name="district_list"),
    path("c/<slug:slug>/d/<str:district_code>/", views.outlet_list, name="outlet_list"),
    path("c/<slug:slug>/register/", views.register, name="register"),
    path("c/<slug:slug>/registered/", views.registered, name="registered"),
    path("c/<slug:slug>/status/", views.status_lookup, name="status_lookup"),
    path("c/<slug:slug>/status/code/", views.status_code, name="status_code"),
    path("c/<slug:slug>/status/view/", views.status_view, name="status_view"),
    path("c/<slug:slug>/status/withdraw/", views.status_withdraw, name="status_withdraw"),
    path("draws/", views.draw_list, name="draw_list"),
    path("draws/<slug:draw_id>.zip", views.draw_zip, name="draw_zip"),
    path("draws/<slug:draw_id>/", views.draw_detail, name="draw_detail"),
    re_path(r"^draws/(?P<draw_id>[-\w]+)/(?P<name>manifest\.json|entries\.jsonl|reveal\.json|results\.csv)$",
            views.draw_file, name="draw_file"),
    re_path(r"^draws/(?P<draw_id>[-\w]+)/proof/(?P<entry_id>[0-9a-f]{32})\.json$", views.draw_proof,
            name="draw_proof"),
]
urlpatterns += firstcome_urlpatterns
