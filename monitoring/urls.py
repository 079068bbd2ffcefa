"""Every page's URL; included from config/urls.py."""

from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from monitoring.views import (
    alerts,
    api,
    dashboard,
    data_queries,
    entry,
    export_jobs,
    fhir,
    imports,
    password_reset,
    reference,
    reports,
    subjects,
    two_factor,
)

api_router = SimpleRouter()
api_router.register("subjects", api.SubjectViewSet, basename="api_subject")
api_router.register("alerts", api.AlertViewSet, basename="api_alert")
api_router.register("cases", api.CaseViewSet, basename="api_case")

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("login/", dashboard.SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("login/verify/", two_factor.verify, name="two_factor_verify"),
    path("login/enrol/", two_factor.enrol, name="two_factor_enrol"),
    path("login/recovery-codes/", two_factor.recovery_codes, name="two_factor_recovery_codes"),
    path("password-reset/", password_reset.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("subjects/", subjects.subject_list, name="subjects"),
    path("subjects/<int:pk>/", subjects.subject_detail, name="subject"),
    path("subjects/<int:pk>/status/", subjects.subject_status, name="subject_status"),
    path("subjects/<int:pk>/history/", subjects.subject_history, name="subject_history"),
    path("subjects/<int:pk>/unblind/", subjects.subject_unblind, name="subject_unblind"),
    path("subjects/<int:pk>/draws/new/", entry.draw_new, name="draw_new"),
    path("subjects/<int:pk>/doses/new/", entry.dose_new, name="dose_new"),
    path("draws/<int:pk>/", entry.draw_detail, name="draw"),
    path("results/<int:pk>/correct/", entry.result_correct, name="result_correct"),
    path("subjects/<int:pk>/queries/new/", data_queries.query_new, name="data_query_new"),
    path("queries/", data_queries.query_list, name="data_queries"),
    path("queries/<int:pk>/", data_queries.query_detail, name="data_query"),
    path(
        "queries/<int:pk>/correct/<int:result_pk>/",
        data_queries.query_correct,
        name="data_query_correct",
    ),
    path("alerts/", alerts.alert_list, name="alerts"),
    path("alerts/acknowledge/", alerts.alerts_acknowledge, name="alerts_acknowledge"),
    path("alerts/<int:pk>/", alerts.alert_detail, name="alert"),
    path("rules/", reference.rules_page, name="rules"),
    path("reports/", reports.study_report, name="study_report"),
    path("reports/study.pdf", reports.study_report_pdf, name="study_report_pdf"),
    path("reports/exports/", export_jobs.study_exports, name="study_exports"),
    path("reports/exports/jobs/<str:kind>/new/", export_jobs.export_job_new, name="export_job_new"),
    path("reports/exports/jobs/<int:pk>/", export_jobs.export_job, name="export_job"),
    path(
        "reports/exports/jobs/<int:pk>/status/",
        export_jobs.export_job_status,
        name="export_job_status",
    ),
    path(
        "reports/exports/jobs/<int:pk>/download/",
        export_jobs.export_job_download,
        name="export_job_download",
    ),
    path(
        "reports/exports/<str:name>.<str:fmt>",
        reports.study_export_download,
        name="study_export_download",
    ),
    path("subjects/<int:pk>/report.pdf", reports.subject_report_pdf, name="subject_report_pdf"),
    path("subjects/<int:pk>/report.zip", reports.subject_report_csv, name="subject_report_csv"),
    path("labs/import/", imports.lab_import, name="lab_import"),
    path("labs/import/preview/", imports.lab_import_preview, name="lab_import_preview"),
    path("labs/import/confirm/", imports.lab_import_confirm, name="lab_import_confirm"),
    path("labs/import/cdisc/", imports.cdisc_import, name="cdisc_import"),
    path("fhir/r4/", fhir.bundle, name="fhir_bundle"),
    path("fhir/r4/Observation", fhir.observation, name="fhir_observation"),
    path("fhir/r4/metadata", fhir.metadata, name="fhir_metadata"),
    path("api/v1/", include(api_router.urls)),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path(
        "api/v1/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api_schema"),
        name="api_docs",
    ),
]
