from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("allot.api.urls")),
    path("staff/", include("allot.backoffice.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("allot.portal.urls")),
]
