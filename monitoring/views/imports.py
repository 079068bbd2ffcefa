"""The web imports: the lab CSV upload with its preview, and CDISC datasets."""

import tempfile
from pathlib import Path

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from monitoring.evaluation import runner
from monitoring.formats import cdisc, csv_import, lab_csv, lab_upload
from subjects import access, inputs


@login_required
def lab_import(request):
    """Upload a labs CSV; see every bad row, and what would be written, before anything is."""
    access.require(access.can_import_labs(request.user), access.IMPORT_ONLY)
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
    access.require(access.can_import_labs(request.user), access.IMPORT_ONLY)
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
    access.require(access.can_import_labs(request.user), access.IMPORT_ONLY)
    stored = lab_upload.stored(request.session, request.POST.get("t", ""))
    if stored is None:
        messages.warning(request, "That upload has expired or was already used; upload it again.")
        return redirect("lab_import")
    if request.POST.get("action") == "cancel":
        lab_upload.discard(request.session)
        messages.info(request, "Import cancelled; nothing was written.")
        return redirect("lab_import")
    reason, reason_error = _optional_reason(request.POST.get("reason", ""))
    refused = None  # (context, status): the page is drawn once the transaction is over
    with transaction.atomic():
        # Checked again inside the transaction: the data may have changed since the preview.
        preview = lab_upload.preview(stored.path, request.user)
        if preview.bad_rows or preview.error:
            transaction.set_rollback(True)
            refused = {"stored": stored, "preview": preview, "changed": True}, 409
        elif preview.changes and not reason:
            refused = (
                {
                    "stored": stored,
                    "preview": preview,
                    "reason_error": reason_error
                    or "Say why these stored values change: the reason is kept in their history.",
                },
                400,
            )
        else:
            summary = lab_csv.import_labs(stored.path, reason=reason, user=request.user)
            changed = sorted(summary.subjects)
            transaction.on_commit(lambda: runner.request_evaluation(changed))
    if refused is not None:
        context, status = refused
        return render(request, "reports/lab_import_preview.html", context, status=status)
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
        runner.request_evaluation(changed)
    context["cdisc_outcome"] = {
        "summaries": [str(s).replace(folder + "/", "") for s in outcome.summaries],
        "errors": [str(e).replace(folder + "/", "") for e in outcome.errors],
        "evaluated": len(changed),
        "needs_reason": any(isinstance(e, csv_import.ReasonRequired) for e in outcome.errors),
    }
    status = 400 if outcome.errors else 200
    return render(request, "reports/lab_import.html", context, status=status)
