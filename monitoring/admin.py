from django import forms
from django.contrib import admin

from monitoring import rules
from monitoring.models import (
    Alert,
    DataQuery,
    DataQueryStep,
    Decision,
    LabDraw,
    LabResult,
    ReferenceRange,
    SubjectSafetyState,
)
from monitoring.services.rule_sets import set_rule_set
from subjects import admin as subjects_admin
from subjects.admin import ClinicalRecordAdmin, ReadOnlyAdmin, ReasonForChangeForm
from subjects.models import Study


class StudyForm(ReasonForChangeForm):
    """A study, its blinding, its maintenance interval and the published rule set it follows;
    changing the blinding, the rule set or the interval asks why."""

    clinical_fields = ("rule_set", "maintenance_interval_days", "blinded")
    rule_set = forms.ChoiceField(
        choices=[(s.name, s.label) for s in rules.RULE_SETS.values()],
        help_text="Changing it re-evaluates every subject; alerts the new set no longer gives "
        "are retracted with the reason.",
    )

    class Meta:
        model = Study
        fields = ["code", "name", "blinded", "maintenance_interval_days", "rule_set"]


# The study's rule set is the engine's to offer and apply: monitoring extends the subjects
# app's study admin rather than the other way round.
admin.site.unregister(Study)


@admin.register(Study)
class StudyAdmin(subjects_admin.ReasonForChangeAdmin, subjects_admin.StudyAdmin):
    form = StudyForm
    list_display = ["code", "name", "blinded", "rule_set", "maintenance_interval_days"]

    def save_model(self, request, obj, form, change):
        reason = form.cleaned_data.get("reason_for_change") or ""
        new = form.cleaned_data["rule_set"]
        if change and "rule_set" in form.changed_data:
            obj.rule_set = form.initial["rule_set"]
            obj._change_reason = reason
            super().save_model(request, obj, form, change)
            set_rule_set(obj, new, reason=reason, user=request.user)
            return
        obj._change_reason = reason or ("changed in the admin" if change else "added in the admin")
        super().save_model(request, obj, form, change)


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


class DataQueryStepInline(admin.TabularInline):
    model = DataQueryStep
    extra = 0
    fields = ["at", "action", "author", "text", "correction"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(DataQuery)
class DataQueryAdmin(ClinicalRecordAdmin):
    """Read-only, open or closed: every step goes through the app (monitoring/services/
    data_queries.py), where it is recorded with its author, time and text, and a closed query
    is refused."""

    list_display = ["pk", "subject", "status", "opened_by", "opened_at", "closed_at"]
    list_filter = ["status", "subject__site"]
    search_fields = ["subject__subject_id", "question"]
    inlines = [DataQueryStepInline]
