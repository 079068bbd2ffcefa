from django.contrib import admin
from django.urls import include, path

from monitoring import health

urlpatterns = [
    path("", include("monitoring.urls")),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
]
