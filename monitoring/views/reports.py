"""The reports: a subject's report (PDF, CSV bundle), the study report (eDISH, R ratio, arms
compared) and the study exports."""

import time

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse

from monitoring.formats import exports
from monitoring.reports import analysis, charts, published, study_charts, subject_report
from subjects import access
from subjects.models import Arm

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
    pdf = subject_report.report_pdf(subject_report.subject_report(subject), paper)
    response = exports.download(
        pdf, subject_report.report_filename(subject, "pdf"), "pdf", inline=True
    )
    response["Server-Timing"] = f"pdf;dur={(time.perf_counter() - started) * 1000:.0f}"
    return response


@login_required
def subject_report_csv(request, pk):
    subject = access.subject_for(request.user, pk)
    bundle = subject_report.report_csv_bundle(subject_report.subject_report(subject))
    return exports.download(bundle, subject_report.report_filename(subject, "zip"), "zip")


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
    access.require(access.can_see_study(request.user), access.STUDY_ONLY)
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
            "published_incidence": published.PUBLISHED_INCIDENCE,
            "published_lipids": published.PUBLISHED_LIPIDS,
            "reference_source": published.REFERENCE_SOURCE,
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
def study_export_download(request, name, fmt):
    access.require(access.can_see_study(request.user), access.STUDY_ONLY)
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
