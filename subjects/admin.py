from django.contrib import admin
from django.core.exceptions import PermissionDenied
from simple_history.admin import SimpleHistoryAdmin

from .models import Arm, Dose, Regimen, Site, Study, Subject
from .signals import subject_data_changed


class AuditedAdmin(SimpleHistoryAdmin):
    """Shows an object's audit history; the history itself can never be changed or replayed
    ("reverted") through the admin."""

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method != "GET":
            raise PermissionDenied("The audit history is read-only.")
        return super().history_form_view(request, object_id, version_id, extra_context)


class ReadOnlyAdmin:
    """An admin that shows, and never adds, changes or deletes."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ClinicalRecordAdmin(ReadOnlyAdmin, AuditedAdmin):
    """Clinical records change only through the app, where a reason is asked for and the
    subject is re-evaluated; the admin shows them."""


class RegimenInline(admin.TabularInline):
    model = Regimen
    extra = 0


class ArmInline(admin.TabularInline):
    model = Arm
    extra = 0


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "maintenance_interval_days"]
    inlines = [RegimenInline, ArmInline]


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "study"]
    list_filter = ["study"]
    search_fields = ["code", "name"]
    filter_horizontal = ["coordinators"]


class DoseInline(admin.TabularInline):
    model = Dose
    extra = 0
    fields = ["administered_at", "dose_mg", "entered_by", "given_despite"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Subject)
class SubjectAdmin(AuditedAdmin):
    list_display = [
        "subject_id",
        "site",
        "arm",
        "sex",
        "birth_date",
        "enrolled_on",
        "active_liver_disease",
    ]
    list_filter = ["study", "site", "arm", "sex", "active_liver_disease"]
    search_fields = ["subject_id"]
    inlines = [DoseInline]

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        obj._change_reason = "changed in the admin"
        super().save_model(request, obj, form, change)
        subject_data_changed.send(sender=Subject, subject=obj)


@admin.register(Dose)
class DoseAdmin(ClinicalRecordAdmin):
    list_display = ["subject", "administered_at", "dose_mg", "entered_by"]
    list_filter = ["subject__site"]
    search_fields = ["subject__subject_id"]
    date_hierarchy = "administered_at"
