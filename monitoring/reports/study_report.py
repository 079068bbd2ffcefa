"""The study report for one reader, as the Reports page shows it and as a PDF (WeasyPrint):
the data cut, the rules, eDISH, the cases and their decisions, and the arm comparison only for
a reader who may see every arm (subjects.access); a blinded reader sees the pooled views."""

import dataclasses
import logging
import math

from django.template.loader import render_to_string
from django.utils import timezone

from monitoring.models import Alert, Decision
from monitoring.presentation import ARM_COLOURS, INK, MUTED
from monitoring.reports import analysis, published
from monitoring.selectors import alert_pages, subject_pages
from subjects import access
from subjects.models import Arm, Study

CASES_IN_PDF = 500


def arm_names(subjects):
    """Arms in the order they were defined (standard before reduced in the mipomersen study)."""
    return list(
        Arm.objects.filter(subjects__in=subjects)
        .distinct()
        .order_by("pk")
        .values_list("name", flat=True)
    )


def study_report(user, now=None) -> dict:
    """Everything the study report shows to `user`, as of now (the data cut)."""
    subjects_qs = access.visible_subjects(user)
    hidden = set(
        subjects_qs.filter(study__in=access.studies_blinded_to(user)).values_list("pk", flat=True)
    )
    data = [
        dataclasses.replace(s, arm=access.BLINDED) if s.key in hidden else s
        for s in analysis.load_subjects(subjects_qs)
    ]
    points = analysis.edish(data)
    arms = arm_names(subjects_qs.exclude(pk__in=hidden))
    if hidden:
        arms.append(access.BLINDED)
    shows_arms = not hidden
    arm_results, differences = analysis.compare_arms(data, arms) if shows_arms else ([], [])
    studies = Study.objects.filter(subjects__in=subjects_qs).distinct().order_by("code")
    return {
        "data_cut": now or timezone.now(),
        "studies": [
            (s, subject_pages.study_rule_set(s), access.sees_arms(user, s)) for s in studies
        ],
        "shows_arms": shows_arms,
        "arm_order": arms,
        "subject_count": len(data),
        "treated": sum(1 for s in data if s.first_dose_at),
        "points": points,
        "quadrants": [
            (key, analysis.QUADRANTS[key], members)
            for key, members in analysis.by_quadrant(points).items()
        ],
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
    }


# ---- the PDF --------------------------------------------------------------------------------


@dataclasses.dataclass
class CaseRow:
    case: alert_pages.Case
    decisions: list  # (decision, what it re-started on, in words or "")


def case_rows(user) -> list[CaseRow]:
    """The cases of the subjects `user` may see, with the decisions that answered them."""
    alerts = Alert.objects.filter(subject__in=access.visible_subjects(user))
    rows = []
    for case in alert_pages.cases(alerts, limit=CASES_IN_PDF):
        decisions = (
            Decision.objects.filter(alerts__in=[a.pk for a in case.alerts])
            .select_related("reviewer", "regimen", "subject__study")
            .distinct()
            .order_by("signed_at")
        )
        shown = []
        for d in decisions:
            target = ""
            if d.regimen is not None:
                sees = access.sees_arm_of(user, d.subject)
                target = d.regimen.name if sees else "a reduced dose (Blinded)"
            shown.append((d, target))
        rows.append(CaseRow(case, shown))
    return rows


WIDTH, HEIGHT = 640, 360
LEFT, RIGHT, TOP, BOTTOM = 56, 180, 14, 40
X_MIN, Y_MIN = 0.1, 0.1


def edish_chart(points, arms) -> dict:
    """eDISH on log-log axes: each subject's peak ALT/AST ×ULN against peak TBIL ×ULN, one
    colour per arm (one "Blinded" colour to a blinded reader), lines at 3× and 2×; potential
    Hy's law points named (the quadrant table names the others)."""
    plotted = [p for p in points if p.tbil is not None]
    x_max = max([30.0, *[float(p.transaminase.multiple) * 1.5 for p in plotted]])
    y_max = max([10.0, *[float(p.tbil.multiple) * 1.5 for p in plotted]])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(value):
        v = max(float(value), X_MIN)
        return LEFT + plot_w * math.log10(v / X_MIN) / math.log10(x_max / X_MIN)

    def y(value):
        v = max(float(value), Y_MIN)
        return TOP + plot_h * (1 - math.log10(v / Y_MIN) / math.log10(y_max / Y_MIN))

    colour = {arm: ARM_COLOURS[i % len(ARM_COLOURS)] for i, arm in enumerate(arms)}
    ticks = [t for t in ("0.1", "0.3", "1", "3", "10", "30", "100", "300") if float(t) <= x_max]
    y_ticks = [t for t in ("0.1", "0.3", "1", "2", "3", "10", "30", "100") if float(t) <= y_max]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "top": TOP,
        "plot_w": plot_w,
        "plot_h": plot_h,
        "right_edge": LEFT + plot_w,
        "bottom": TOP + plot_h,
        "ink": INK,
        "muted": MUTED,
        "x3": f"{x(3):.1f}",
        "y2": f"{y(2):.1f}",
        "hys": {"x": f"{x(3):.1f}", "w": f"{LEFT + plot_w - x(3):.1f}", "h": f"{y(2) - TOP:.1f}"},
        "x_ticks": [(f"{x(t):.1f}", t) for t in ticks],
        "y_ticks": [(f"{y(t):.1f}", t) for t in y_ticks],
        "dots": [
            {
                "x": f"{x(p.transaminase.multiple):.1f}",
                "y": f"{y(p.tbil.multiple):.1f}",
                "r": 5 if p.quadrant == analysis.HYS_LAW else 3.5,
                "fill": colour.get(p.subject.arm, MUTED),
                "label": p.subject.subject_id if p.quadrant == analysis.HYS_LAW else "",
            }
            for p in plotted
        ],
        "legend": [
            (arm, colour[arm], TOP + 14 + 16 * i)
            for i, arm in enumerate(a for a in arms if any(p.subject.arm == a for p in plotted))
        ],
        "legend_x": LEFT + plot_w + 16,
    }


def report_html(report: dict, user) -> str:
    context = {
        **report,
        "cases": case_rows(user),
        "edish_svg": render_to_string(
            "reports/_edish_chart.svg", edish_chart(report["points"], report["arm_order"])
        ).strip(),
    }
    return render_to_string("reports/study_report_pdf.html", context)


def report_pdf(report: dict, user) -> bytes:
    for name in ("weasyprint", "weasyprint.progress", "fontTools"):
        logging.getLogger(name).setLevel(logging.WARNING)  # INFO for every layout step
    from weasyprint import HTML

    return HTML(string=report_html(report, user)).write_pdf()


def report_filename(report: dict) -> str:
    return f"hepwatch-study-report-{report['data_cut']:%Y%m%d-%H%M}.pdf"
