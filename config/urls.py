from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from monitoring import health, views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path(
        "login/",
        views.SignInView.as_view(),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("subjects/", views.subject_list, name="subjects"),
    path("subjects/<int:pk>/", views.subject_detail, name="subject"),
    path("subjects/<int:pk>/status/", views.subject_status, name="subject_status"),
    path("subjects/<int:pk>/history/", views.subject_history, name="subject_history"),
    path("subjects/<int:pk>/draws/new/", views.draw_new, name="draw_new"),
    path("subjects/<int:pk>/doses/new/", views.dose_new, name="dose_new"),
    path("draws/<int:pk>/", views.draw_detail, name="draw"),
    path("results/<int:pk>/correct/", views.result_correct, name="result_correct"),
    path("alerts/", views.alert_list, name="alerts"),
    path("alerts/acknowledge/", views.alerts_acknowledge, name="alerts_acknowledge"),
    path("alerts/<int:pk>/", views.alert_detail, name="alert"),
    path("rules/", views.rules_page, name="rules"),
    path("", include("monitoring.report_urls")),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
]
