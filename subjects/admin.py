from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from .models import Arm, Dose, Site, Study, Subject


class ArmInline(admin.TabularInline):
    model = Arm
    extra = 0


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "maintenance_interval_days"]
    inlines = [ArmInline]


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "study"]
    list_filter = ["study"]
    search_fields = ["code", "name"]
    filter_horizontal = ["coordinators"]


class DoseInline(admin.TabularInline):
    model = Dose
    extra = 0
    fields = ["administered_at", "dose_mg", "entered_by", "override_reason"]
    readonly_fields = ["entered_by"]


@admin.register(Subject)
class SubjectAdmin(SimpleHistoryAdmin):
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


@admin.register(Dose)
class DoseAdmin(SimpleHistoryAdmin):
    list_display = ["subject", "administered_at", "dose_mg", "entered_by"]
    list_filter = ["subject__site"]
    search_fields = ["subject__subject_id"]
    date_hierarchy = "administered_at"
