"""/api/v1/ (included by config/urls.py)."""

from django.urls import path

from allot.api.v1 import api

urlpatterns = [path("", api.urls)]
