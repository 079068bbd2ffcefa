from django.contrib import admin

from monitoring.models import (
    Alert,
    Decision,
    LabDraw,
    LabResult,
    ReferenceRange,
    SubjectSafetyState,
)
from subjects.admin import ClinicalRecordAdmin, ReadOnlyAdmin


@admin.register(ReferenceRange)
class ReferenceRangeAdmin(admin.ModelAdmin):
    list_display = ["analyte", "sex", "age_min", "age_max", "uln", "unit", "valid_from"]
    list_filter = ["analyte", "sex"]


class LabResultInline(admin.TabularInline):
    model = LabResult
    extra = 0
    fields = ["analyte", "value", "unit", "reported_uln", "uln", "uln_source", "uln_multiple"]
    readonly_fields = fields
    can_delete = False


@admin.register(LabDraw)
class LabDrawAdmin(ClinicalRecordAdmin):
    list_display = ["subject", "collected_at", "lab_name", "symptoms_of_liver_injury", "entered_by"]
    list_filter = ["subject__site", "symptoms_of_liver_injury"]
    search_fields = ["subject__subject_id", "lab_name"]
    date_hierarchy = "collected_at"
    inlines = [LabResultInline]


@admin.register(LabResult)
class LabResultAdmin(ClinicalRecordAdmin):
    list_display = ["draw", "analyte", "value", "unit", "uln", "uln_multiple"]
    list_filter = ["analyte", "uln_source"]
    search_fields = ["draw__subject__subject_id"]


@admin.register(SubjectSafetyState)
class SubjectSafetyStateAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = [
        "subject",
        "state",
        "regimen",
        "data_version",
        "evaluated_version",
        "evaluated_at",
    ]
    list_filter = ["state"]
    search_fields = ["subject__subject_id"]


@admin.register(Alert)
class AlertAdmin(ClinicalRecordAdmin):
    list_display = ["subject", "rule", "kind", "severity", "status", "triggered_at", "due_by"]
    list_filter = ["severity", "status", "kind", "subject__site"]
    search_fields = ["subject__subject_id", "explanation"]
    date_hierarchy = "triggered_at"


@admin.register(Decision)
class DecisionAdmin(ClinicalRecordAdmin):
    list_display = ["subject", "action", "regimen", "reviewer", "signed_at", "transcribed"]
    list_filter = ["action", "transcribed"]
    search_fields = ["subject__subject_id", "reason"]
