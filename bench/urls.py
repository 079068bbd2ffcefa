"""The app's URLs and the benchmark's floor view (bench/settings.py only)."""

from django.urls import path

from bench import floors
from config.urls import urlpatterns as app_urlpatterns

urlpatterns = [
    *app_urlpatterns,
    path("bench/floor/draw/<int:subject_pk>/", floors.write_draw, name="bench-floor-draw"),
]
