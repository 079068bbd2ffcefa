"""Exports from the Reports page that run as Celery tasks: SDTM and the audit trail, asked for
by monitors and reviewers, with a progress bar and a download link that outlives the page."""

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from monitoring.models import ExportJob
from monitoring.services import export_jobs
from monitoring.views.reports import EXPORT_DESCRIPTIONS
from subjects import access


class SdtmForm(forms.Form):
    format = forms.ChoiceField(
        choices=[("csv", "CSV"), ("xpt", "SAS transport (XPT)")], initial="csv"
    )


class AuditForm(forms.Form):
    subject_id = forms.CharField(required=False, max_length=40, label="Subject")
    since = forms.DateField(
        required=False, label="From (UTC day)", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="To (UTC day)", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_subject_id(self):
        subject_id = self.cleaned_data["subject_id"].strip()
        if (
            subject_id
            and not access.visible_subjects(self.user).filter(subject_id=subject_id).exists()
        ):
            raise forms.ValidationError(f"No subject {subject_id!r} that you may see.")
        return subject_id

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("until", "The end date is before the start date.")
        return data


def own_job(request, pk) -> ExportJob | None:
    """The job, or None when it is not the signed-in user's (or no longer kept)."""
    access.require(access.can_see_study(request.user), access.STUDY_ONLY)
    return ExportJob.objects.filter(pk=pk, user=request.user).first()


def not_kept(request, status=404):
    """A clear page for an export past its retention (or never the user's): not a bare 404."""
    return render(
        request,
        "reports/export_gone.html",
        {"retention_days": settings.HEPWATCH_EXPORT_RETENTION_DAYS},
        status=status,
    )


@login_required
@require_POST
def export_job_new(request, kind):
    access.require(access.can_see_study(request.user), access.STUDY_ONLY)
    if kind == "sdtm":
        form = SdtmForm(request.POST)
    elif kind == "audit":
        form = AuditForm(request.POST, user=request.user)
    else:
        raise Http404("No such export")
    if not form.is_valid():
        return render_page(request, {f"{kind}_form": form}, status=400)
    params = {
        k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in form.cleaned_data.items()
    }
    job = export_jobs.request(request.user, kind, params)
    return redirect("export_job", pk=job.pk)


@login_required
def export_job(request, pk):
    job = own_job(request, pk)
    if job is None:
        return not_kept(request)
    return render(request, "reports/export_job.html", {"job": job})


@login_required
def export_job_status(request, pk):
    job = own_job(request, pk)
    if job is None:
        return JsonResponse(
            {"status": "gone", "progress": 0, "error": NOT_KEPT, "download": None}, status=404
        )
    return JsonResponse(
        {
            "status": job.status,
            "progress": job.progress,
            "error": job.error,
            "download": reverse("export_job_download", args=[job.pk])
            if job.status == "done"
            else None,
        }
    )


NOT_KEPT = "This export is no longer kept; ask for it again on the Reports page."


@login_required
def export_job_download(request, pk):
    job = own_job(request, pk)
    if job is None:
        return not_kept(request)
    if job.status != "done" or not job.file:
        raise Http404("This export is not ready")
    if not job.file.storage.exists(job.file.name):
        return not_kept(request, status=410)
    return FileResponse(job.file.open("rb"), as_attachment=True, filename=job.filename)


@login_required
def study_exports(request):
    """The Reports page's exports: the study's tables now, SDTM and the audit trail as jobs."""
    access.require(access.can_see_study(request.user), access.STUDY_ONLY)
    return render_page(request, {})


def render_page(request, forms_given, status=200):
    context = {
        "rows": EXPORT_DESCRIPTIONS,
        "sdtm_form": forms_given.get("sdtm_form") or SdtmForm(),
        "audit_form": forms_given.get("audit_form") or AuditForm(user=request.user),
        "jobs": ExportJob.objects.filter(user=request.user)[:10],
        "retention_days": settings.HEPWATCH_EXPORT_RETENTION_DAYS,
    }
    return render(request, "reports/exports.html", context, status=status)
