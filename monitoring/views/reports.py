"""The reports: a subject's report (PDF, CSV bundle), the study report (eDISH, R ratio, arms
compared for the unblinded; a page and a PDF) and the study exports."""

import time

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse

from monitoring.formats import exports, spreadsheets
from monitoring.reports import charts, study_charts, subject_report
from monitoring.reports import study_report as study_report_data
from subjects import access

EXPORT_DESCRIPTIONS = (
    ("subjects", "Site, sex, birth date, arm, enrolment, liver disease, safety state"),
    ("doses", "Every dose: time, mg, override reason, who entered it"),
    ("labs", "Every result as entered, canonical value, ULN and its source, × ULN, CTCAE grade"),
    ("alerts", "Every alert, retracted ones included: rule, status, dates, explanation"),
    ("decisions", "Every signed decision: action, reason, reviewer, time, signature"),
    (
        "queries",
        "Every data query: the value queried, question, status, answer or correction, "
        "who closed it, and each step",
    ),
)


# ---- subject report -----------------------------------------------------------------------


@login_required
def subject_report_pdf(request, pk):
    subject = access.subject_for(request.user, pk)
    paper = request.GET.get("paper", "a4").lower()
    if paper not in subject_report.PAPER_SIZES:
        paper = "a4"
    started = time.perf_counter()
    report = subject_report.subject_report(
        subject, sees_arm=access.sees_arm_of(request.user, subject)
    )
    pdf = subject_report.report_pdf(report, paper)
    response = spreadsheets.download(
        pdf, subject_report.report_filename(subject, "pdf"), "pdf", inline=True
    )
    response["Server-Timing"] = f"pdf;dur={(time.perf_counter() - started) * 1000:.0f}"
    return response


@login_required
def subject_report_csv(request, pk):
    subject = access.subject_for(request.user, pk)
    report = subject_report.subject_report(
        subject, sees_arm=access.sees_arm_of(request.user, subject)
    )
    bundle = subject_report.report_csv_bundle(report)
    return spreadsheets.download(bundle, subject_report.report_filename(subject, "zip"), "zip")


# ---- study report -------------------------------------------------------------------------


@login_required
def study_report(request):
    access.require(access.can_see_study(request.user), access.STUDY_ONLY)
    report = study_report_data.study_report(request.user)
    figure = study_charts.edish_figure(
        report["points"], report["arm_order"], url=lambda pk: reverse("subject", args=[pk])
    )
    report["edish_chart"] = charts.figure_json(figure) if report["points"] else None
    return render(request, "reports/study_report.html", report)


@login_required
def study_report_pdf(request):
    """The study report as a PDF: the same content, for the same reader, as of now."""
    access.require(access.can_see_study(request.user), access.STUDY_ONLY)
    report = study_report_data.study_report(request.user)
    pdf = study_report_data.report_pdf(report, request.user)
    return spreadsheets.download(pdf, study_report_data.report_filename(report), "pdf", inline=True)


# ---- study exports ------------------------------------------------------------------------


@login_required
def study_export_download(request, name, fmt):
    access.require(access.can_see_study(request.user), access.STUDY_ONLY)
    if (name not in exports.DATASETS and name != "study") or fmt not in ("csv", "xlsx"):
        raise Http404("No such export")
    subjects = access.visible_subjects(request.user)
    sees_arm = lambda subject: access.sees_arm_of(request.user, subject)  # noqa: E731
    if name == "study":
        datasets = [exports.dataset(n, subjects, sees_arm) for n in exports.DATASETS]
        if fmt == "xlsx":
            return spreadsheets.download(
                spreadsheets.xlsx_bytes(datasets), "hepwatch-study.xlsx", "xlsx"
            )
        return spreadsheets.download(
            spreadsheets.csv_zip_bytes(datasets), "hepwatch-study-csv.zip", "zip"
        )
    data = exports.dataset(name, subjects, sees_arm)
    return spreadsheets.dataset_download(data, fmt, f"hepwatch-{name}")


# ---- web lab import -----------------------------------------------------------------------
