"""URLs of the reports, exports and web lab import (issue 4); included from config/urls.py."""

from django.urls import path

from . import report_views as views

urlpatterns = [
    path("reports/", views.study_report, name="study_report"),
    path("reports/exports/", views.study_exports, name="study_exports"),
    path(
        "reports/exports/<str:name>.<str:fmt>",
        views.study_export_download,
        name="study_export_download",
    ),
    path("subjects/<int:pk>/report.pdf", views.subject_report_pdf, name="subject_report_pdf"),
    path("subjects/<int:pk>/report.zip", views.subject_report_csv, name="subject_report_csv"),
    path("labs/import/", views.lab_import, name="lab_import"),
    path("labs/import/preview/", views.lab_import_preview, name="lab_import_preview"),
    path("labs/import/confirm/", views.lab_import_confirm, name="lab_import_confirm"),
    path("labs/import/cdisc/", views.cdisc_import, name="cdisc_import"),
]
