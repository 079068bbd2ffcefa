"""Pages of issue 4: the subject report (PDF, CSV bundle), the study report (eDISH, R ratio, arm
comparison), study exports, and the web lab import with its preview. Thin: access checks, then
plain functions in analysis, reports, exports and lab_upload."""

import tempfile
import time
from pathlib import Path

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from subjects import access, inputs
from subjects.models import Arm

from . import (
    analysis,
    cdisc,
    charts,
    exports,
    imports,
    lab_upload,
    report_access,
    reports,
    services,
    study_charts,
)

EXPORT_DESCRIPTIONS = (
    ("subjects", "Site, sex, birth date, arm, enrolment, liver disease, safety state"),
    ("doses", "Every dose: time, mg, override reason, who entered it"),
    ("labs", "Every result as entered, canonical value, ULN and its source, × ULN, CTCAE grade"),
    ("alerts", "Every alert, retracted ones included: rule, status, dates, explanation"),
    ("decisions", "Every signed decision: action, reason, reviewer, time, signature"),
)


# ---- subject report -----------------------------------------------------------------------


@login_required
def subject_report_pdf(request, pk):
    subject = access.subject_for(request.user, pk)
    paper = request.GET.get("paper", "a4").lower()
    if paper not in reports.PAPER_SIZES:
        paper = "a4"
    started = time.perf_counter()
    pdf = reports.report_pdf(reports.subject_report(subject), paper)
    response = exports.download(pdf, reports.report_filename(subject, "pdf"), "pdf", inline=True)
    response["Server-Timing"] = f"pdf;dur={(time.perf_counter() - started) * 1000:.0f}"
    return response


@login_required
def subject_report_csv(request, pk):
    subject = access.subject_for(request.user, pk)
    bundle = reports.report_csv_bundle(reports.subject_report(subject))
    return exports.download(bundle, reports.report_filename(subject, "zip"), "zip")


# ---- study report -------------------------------------------------------------------------


def _arm_names(subjects):
    """Arms in the order they were defined (standard before reduced in the mipomersen study)."""
    return list(
        Arm.objects.filter(subjects__in=subjects)
        .distinct()
        .order_by("pk")
        .values_list("name", flat=True)
    )


@login_required
def study_report(request):
    access.require(report_access.can_see_study(request.user), report_access.STUDY_ONLY)
    subjects_qs = access.visible_subjects(request.user)
    data = analysis.load_subjects(subjects_qs)
    points = analysis.edish(data)
    arms = _arm_names(subjects_qs)
    arm_results, differences = analysis.compare_arms(data, arms)
    figure = study_charts.edish_figure(points, arms, url=lambda pk: reverse("subject", args=[pk]))
    return render(
        request,
        "reports/study_report.html",
        {
            "subject_count": len(data),
            "treated": sum(1 for s in data if s.first_dose_at),
            "points": points,
            "quadrants": [
                (key, analysis.QUADRANTS[key], members)
                for key, members in analysis.by_quadrant(points).items()
            ],
            "edish_chart": charts.figure_json(figure) if points else None,
            "flagged": [p for p in points if p.quadrant != analysis.NORMAL],
            "normal": [p for p in points if p.quadrant == analysis.NORMAL],
            "lipid_rows": [
                (analyte, label, [(arm, arm.lipids[analyte]) for arm in arm_results])
                for analyte, label in analysis.LIPIDS
            ],
            "arms": arm_results,
            "differences": differences,
            "published_incidence": analysis.PUBLISHED_INCIDENCE,
            "published_lipids": analysis.PUBLISHED_LIPIDS,
            "reference_source": analysis.REFERENCE_SOURCE,
            "patterns": {
                "hepatocellular": sum(1 for p in points if p.pattern == analysis.HEPATOCELLULAR),
                "mixed": sum(1 for p in points if p.pattern == analysis.MIXED),
                "cholestatic": sum(1 for p in points if p.pattern == analysis.CHOLESTATIC),
                "none": sum(1 for p in points if p.pattern is None),
            },
            "grace_days": analysis.ON_TREATMENT_GRACE.days,
        },
    )


# ---- study exports ------------------------------------------------------------------------


@login_required
def study_exports(request):
    access.require(report_access.can_see_study(request.user), report_access.STUDY_ONLY)
    return render(request, "reports/exports.html", {"rows": EXPORT_DESCRIPTIONS})


@login_required
def study_export_download(request, name, fmt):
    access.require(report_access.can_see_study(request.user), report_access.STUDY_ONLY)
    if (name not in exports.DATASETS and name != "study") or fmt not in ("csv", "xlsx"):
        raise Http404("No such export")
    subjects = access.visible_subjects(request.user)
    if name == "study":
        datasets = [exports.dataset(n, subjects) for n in exports.DATASETS]
        if fmt == "xlsx":
            return exports.download(exports.xlsx_bytes(datasets), "hepwatch-study.xlsx", "xlsx")
        return exports.download(exports.csv_zip_bytes(datasets), "hepwatch-study-csv.zip", "zip")
    data = exports.dataset(name, subjects)
    return exports.dataset_download(data, fmt, f"hepwatch-{name}")


# ---- web lab import -----------------------------------------------------------------------


@login_required
def lab_import(request):
    """Upload a labs CSV; see every bad row, and what would be written, before anything is."""
    access.require(report_access.can_import_labs(request.user), report_access.IMPORT_ONLY)
    context = {"limit_mb": lab_upload.MAX_BYTES // (1024 * 1024)}
    if request.method == "POST":
        upload = request.FILES.get("file")
        problem = lab_upload.check_upload(upload)
        if problem:
            context["upload_error"] = problem
            return render(request, "reports/lab_import.html", context, status=400)
        lab_upload.discard(request.session)
        stored = lab_upload.store(request.session, upload)
        return redirect(f"{reverse('lab_import_preview')}?t={stored.token}")
    return render(request, "reports/lab_import.html", context)


@login_required
def lab_import_preview(request):
    access.require(report_access.can_import_labs(request.user), report_access.IMPORT_ONLY)
    stored = lab_upload.stored(request.session, request.GET.get("t", ""))
    if stored is None:
        messages.warning(request, "That upload has expired or was already used; upload it again.")
        return redirect("lab_import")
    preview = lab_upload.preview(stored.path, request.user)
    return render(
        request,
        "reports/lab_import_preview.html",
        {"stored": stored, "preview": preview, "limit_mb": lab_upload.MAX_BYTES // 1048576},
    )


@login_required
@require_POST
def lab_import_confirm(request):
    access.require(report_access.can_import_labs(request.user), report_access.IMPORT_ONLY)
    stored = lab_upload.stored(request.session, request.POST.get("t", ""))
    if stored is None:
        messages.warning(request, "That upload has expired or was already used; upload it again.")
        return redirect("lab_import")
    if request.POST.get("action") == "cancel":
        lab_upload.discard(request.session)
        messages.info(request, "Import cancelled; nothing was written.")
        return redirect("lab_import")
    reason, reason_error = _optional_reason(request.POST.get("reason", ""))
    with transaction.atomic():
        # Checked again inside the transaction: the data may have changed since the preview.
        preview = lab_upload.preview(stored.path, request.user)
        if preview.bad_rows or preview.error:
            transaction.set_rollback(True)
            return render(
                request,
                "reports/lab_import_preview.html",
                {"stored": stored, "preview": preview, "changed": True},
                status=409,
            )
        if preview.changes and not reason:
            return render(
                request,
                "reports/lab_import_preview.html",
                {
                    "stored": stored,
                    "preview": preview,
                    "reason_error": reason_error
                    or "Say why these stored values change: the reason is kept in their history.",
                },
                status=400,
            )
        summary = imports.import_labs(stored.path, reason=reason, user=request.user)
        changed = sorted(summary.subjects)
        transaction.on_commit(lambda: services.enqueue_evaluation(changed))
    lab_upload.discard(request.session)
    messages.success(
        request,
        f"Imported {stored.name}: {summary.rows} rows, {summary.created} results created, "
        f"{summary.updated} updated, {summary.unchanged} unchanged. "
        f"{len(changed)} subject{'s' if len(changed) != 1 else ''} queued for evaluation.",
    )
    return redirect("lab_import")


def _optional_reason(text):
    """(reason or None, error or None) of an import's reason field: empty is no reason; text
    without a visible character is an error."""
    if not text.strip():
        return None, None
    try:
        return inputs.visible_text(text, "The reason"), None
    except ValueError as exc:
        return None, f"{exc}."


CDISC_SUFFIXES = (".xpt", ".csv")
CDISC_MAX_BYTES = 200 * 1024 * 1024


@login_required
@require_POST
def cdisc_import(request):
    """A sponsor's CDISC transfer (SDTM DM/EX/LB or ADaM ADSL/ADLB, .xpt or .csv), for staff:
    it creates subjects, sites and arms across the study, so it is not a coordinator's."""
    access.require(request.user.is_staff, "The CDISC import is for staff only.")
    files = request.FILES.getlist("cdisc_files")
    problem = None
    if not files:
        problem = "Choose one or more .xpt or .csv files."
    elif any(not f.name.lower().endswith(CDISC_SUFFIXES) for f in files):
        problem = "Only SAS transport (.xpt) and CSV (.csv) files can be imported."
    elif sum(f.size for f in files) > CDISC_MAX_BYTES:
        problem = f"The files add up to more than {CDISC_MAX_BYTES // 1048576} MB."
    reason, reason_error = _optional_reason(request.POST.get("reason", ""))
    problem = problem or reason_error
    context = {"limit_mb": lab_upload.MAX_BYTES // (1024 * 1024), "cdisc_reason": reason or ""}
    if problem:
        context["cdisc_error"] = problem
        return render(request, "reports/lab_import.html", context, status=400)
    with tempfile.TemporaryDirectory(prefix="hepwatch-cdisc-") as folder:
        paths = []
        for number, upload in enumerate(files):
            path = Path(folder) / f"{number}-{Path(upload.name).name}"
            with path.open("wb") as out:
                for chunk in upload.chunks():
                    out.write(chunk)
            paths.append(str(path))
        outcome = cdisc.import_files(paths, reason=reason, user=request.user)
    changed = sorted(outcome.changed)
    if changed:
        services.enqueue_evaluation(changed)
    context["cdisc_outcome"] = {
        "summaries": [str(s).replace(folder + "/", "") for s in outcome.summaries],
        "errors": [str(e).replace(folder + "/", "") for e in outcome.errors],
        "evaluated": len(changed),
        "needs_reason": any(isinstance(e, imports.ReasonRequired) for e in outcome.errors),
    }
    status = 400 if outcome.errors else 200
    return render(request, "reports/lab_import.html", context, status=status)
