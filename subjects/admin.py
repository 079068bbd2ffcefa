"""The admin, for staff. A clinical field (of a subject, a site or an arm) changes only with a
reason, kept in the audit history; nothing that clinical records point to can be deleted, and
clinical records themselves (doses, labs, alerts, decisions) are read-only here."""

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied
from simple_history.admin import SimpleHistoryAdmin

from . import access, services
from .api_tokens import ApiToken
from .models import Arm, Dose, Regimen, Site, Study, Subject, UnblindedRosterEntry


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


class ReasonForChangeForm(forms.ModelForm):
    """A model form that asks why, when a field of `clinical_fields` of a saved record changes."""

    clinical_fields = ()
    reason_for_change = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Required when a clinical field changes; kept in the audit history.",
    )

    def changed_clinical_fields(self):
        return [name for name in self.changed_data if name in self.clinical_fields]

    def clean_reason_for_change(self):
        return self.cleaned_data["reason_for_change"].strip()

    def clean(self):
        cleaned = super().clean()
        changed = self.changed_clinical_fields()
        if self.instance.pk and changed and not cleaned.get("reason_for_change"):
            labels = ", ".join(str(self[name].label).lower() for name in changed)
            self.add_error(
                "reason_for_change",
                f"Give a reason for changing {labels}: a clinical field changes only with a "
                "reason, which is kept in the audit history.",
            )
        return cleaned


class ReasonForChangeAdmin(admin.ModelAdmin):
    """Keeps the reason for a change in the admin's own log of the record (its History page)."""

    def construct_change_message(self, request, form, formsets, add=False):
        message = super().construct_change_message(request, form, formsets, add)
        reason = form.cleaned_data.get("reason_for_change", "")
        changed = [str(form[name].label) for name in form.changed_data if name in form.fields]
        changed = [label for label in changed if label != form["reason_for_change"].label]
        if add or not reason:
            return message
        return f"Changed {', '.join(changed)}. Reason: {reason}"


def has_clinical_records(obj, *relations):
    return obj is not None and any(getattr(obj, name).exists() for name in relations)


class ShownInline(admin.TabularInline):
    """Records of a study, shown; each is changed on its own page, with a reason."""

    extra = 0
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class RegimenInline(ShownInline):
    model = Regimen
    fields = readonly_fields = ["code", "name", "dose_mg", "administrations_per_week"]


class ArmInline(ShownInline):
    model = Arm
    fields = readonly_fields = ["code", "name", "regimen"]


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "maintenance_interval_days"]
    inlines = [RegimenInline, ArmInline]

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not has_clinical_records(
            obj, "subjects", "sites", "arms", "regimens"
        )


class SiteForm(ReasonForChangeForm):
    clinical_fields = ("study", "code", "name", "country", "time_zone")

    class Meta:
        model = Site
        fields = ["study", "code", "name", "country", "time_zone", "coordinators"]


@admin.register(Site)
class SiteAdmin(ReasonForChangeAdmin):
    form = SiteForm
    list_display = ["code", "name", "study", "country", "time_zone"]
    list_filter = ["study"]
    search_fields = ["code", "name"]
    filter_horizontal = ["coordinators"]

    def has_delete_permission(self, request, obj=None):
        """A site with subjects stays; an empty one (entered by mistake) may go."""
        return super().has_delete_permission(request, obj) and not has_clinical_records(
            obj, "subjects"
        )


class AuditedReasonAdmin(ReasonForChangeAdmin, AuditedAdmin):
    """The reason for a change goes into the record's audit history as well."""

    def save_model(self, request, obj, form, change):
        default = "changed in the admin" if change else "added in the admin"
        obj._change_reason = form.cleaned_data.get("reason_for_change") or default
        super().save_model(request, obj, form, change)


class RegimenForm(ReasonForChangeForm):
    clinical_fields = ("study", "code", "name", "dose_mg", "administrations_per_week")

    class Meta:
        model = Regimen
        fields = ["study", "code", "name", "dose_mg", "administrations_per_week"]


@admin.register(Regimen)
class RegimenAdmin(AuditedReasonAdmin):
    form = RegimenForm
    list_display = ["code", "name", "study", "dose_mg", "administrations_per_week"]
    list_filter = ["study"]

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not has_clinical_records(obj, "arms")


class ArmForm(ReasonForChangeForm):
    clinical_fields = ("study", "code", "name", "regimen")

    class Meta:
        model = Arm
        fields = ["study", "code", "name", "regimen"]


@admin.register(Arm)
class ArmAdmin(AuditedReasonAdmin):
    form = ArmForm
    list_display = ["code", "name", "study", "regimen"]
    list_filter = ["study"]

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not has_clinical_records(
            obj, "subjects"
        )


class DoseInline(admin.TabularInline):
    model = Dose
    extra = 0
    fields = ["administered_at", "dose_mg", "entered_by", "given_despite"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class SubjectForm(ReasonForChangeForm):
    clinical_fields = ("sex", "birth_date", "arm", "site", "enrolled_on", "active_liver_disease")

    class Meta:
        model = Subject
        fields = [
            "study",
            "site",
            "subject_id",
            "sex",
            "birth_date",
            "arm",
            "enrolled_on",
            "active_liver_disease",
            "screen_failure",
        ]


@admin.register(Subject)
class SubjectAdmin(ReasonForChangeAdmin, AuditedAdmin):
    form = SubjectForm
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
        """Through the service every subject write goes through: the reason in the audit
        history, and the subject re-evaluated once it commits."""
        default = "changed in the admin" if change else "added in the admin"
        fields = set(SubjectForm.Meta.fields) & set(form.changed_data)
        changed = {name: form.cleaned_data[name] for name in fields}
        reason = form.cleaned_data["reason_for_change"] or default
        services.update_subject(obj, reason=reason, **changed)


@admin.register(Dose)
class DoseAdmin(ClinicalRecordAdmin):
    list_display = ["subject", "administered_at", "dose_mg", "entered_by"]
    list_filter = ["subject__site"]
    search_fields = ["subject__subject_id"]
    date_hierarchy = "administered_at"


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are made by `manage.py create_api_token`; here they are listed and revoked."""

    list_display = ("prefix", "user", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    fields = ("user", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("user", "prefix", "created_at", "last_used_at")
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        from django.utils import timezone

        queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


# ---- the unblinded roster: who may join the `unblinded` group ----------------------------


class UnblindedRosterForm(ReasonForChangeForm):
    clinical_fields = ("study", "user")

    class Meta:
        model = UnblindedRosterEntry
        fields = ["study", "user", "reason"]


@admin.register(UnblindedRosterEntry)
class UnblindedRosterAdmin(AuditedReasonAdmin):
    """Staff list here who may be unblinded for a study (edc-randomization's way); only a listed
    user can be put in the `unblinded` group."""

    form = UnblindedRosterForm
    list_display = ["user", "study", "reason"]
    list_filter = ["study"]


def unrostered(users) -> list:
    """The users no study's unblinded roster lists."""
    listed = set(
        UnblindedRosterEntry.objects.filter(user__in=[u.pk for u in users]).values_list(
            "user_id", flat=True
        )
    )
    return [u for u in users if u.pk not in listed]


def roster_error(users) -> str:
    names = ", ".join(u.get_username() for u in users)
    return (
        f"{names} cannot join the {access.UNBLINDED} group: no study's unblinded roster lists "
        "them. Add them to the unblinded roster first."
    )


class RosteredUserChangeForm(UserChangeForm):
    def clean_groups(self):
        groups = self.cleaned_data.get("groups")
        if groups is not None and any(g.name == access.UNBLINDED for g in groups):
            if self.instance.pk is None or unrostered([self.instance]):
                raise forms.ValidationError(roster_error([self.instance]))
        return groups


class GroupWithUsersForm(forms.ModelForm):
    """A group and its members, so the roster check holds from the group's page too."""

    users = forms.ModelMultipleChoiceField(
        queryset=User.objects.order_by("username"),
        required=False,
        widget=admin.widgets.FilteredSelectMultiple("users", is_stacked=False),
    )

    class Meta:
        model = Group
        fields = ["name", "permissions", "users"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["users"].initial = self.instance.user_set.all()

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("name") == access.UNBLINDED:
            missing = unrostered(list(cleaned.get("users") or []))
            if missing:
                self.add_error("users", roster_error(missing))
        return cleaned


admin.site.unregister(Group)
admin.site.unregister(User)


@admin.register(Group)
class RosteredGroupAdmin(GroupAdmin):
    form = GroupWithUsersForm

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        form.instance.user_set.set(form.cleaned_data["users"])


@admin.register(User)
class RosteredUserAdmin(UserAdmin):
    form = RosteredUserChangeForm
