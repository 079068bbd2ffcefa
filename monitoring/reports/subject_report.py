"""The subject report: its content as plain data, its SVG chart (liver_chart.py), the PDF made
offline by WeasyPrint from templates/reports/subject_report.html, and a bundle of CSV files."""

import logging
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction

from django.template.loader import render_to_string
from django.utils import timezone

from monitoring import rules, units
from monitoring.formats import spreadsheets
from monitoring.models import SubjectSafetyState
from monitoring.presentation import (
    ANALYTE_LABELS,
    STATE_LABELS,
)
from monitoring.reports import liver_chart
from monitoring.selectors import subject_pages
from subjects.access import BLINDED

PAPER_SIZES = {"a4": "A4", "letter": "letter"}
ANALYTE_COLUMNS = ("ALT", "AST", "ALP", "TBIL", "LDLC", "APOB")


@dataclass
class Period:
    start: datetime
    end: datetime | None
    what: str


@dataclass
class LipidRow:
    analyte: str
    label: str
    at: datetime
    value: Fraction
    change: Fraction | None  # % from baseline; None for the baseline itself
    is_baseline: bool = False


@dataclass
class SubjectReport:
    subject: object
    timeline: subject_pages.Timeline
    state: str
    state_label: str
    pending: bool
    age: int
    regimen: str
    periods: list
    lipids: list
    generated_at: datetime
    rules_version: str = rules.DEFAULT_RULE_SET.label
    chart_svg: str = ""
    doses_by_regimen: list = field(default_factory=list)
    sees_arm: bool = True  # False: the reader may not see the arm ("Blinded")

    @property
    def alerts(self):
        """Every alert, retracted ones included, in the order they were triggered."""
        return sorted(self.timeline.alerts, key=lambda a: (a.triggered_at, a.severity_rank))

    @property
    def doses(self):
        return self.timeline.doses


def current_regimen(subject, assessment, state, sees_arm=True) -> str:
    """What the subject is on now, in words: the regimen in force and since when."""
    regimen = subject_pages.regimen_text(assessment, sees_arm)
    if state == rules.DISCONTINUED:
        since = rules.when(assessment.discontinued_at)
        return f"Discontinued since {since} ({assessment.discontinued_by}); last regimen {regimen}"
    if state in (rules.WITHHELD, rules.RESTART_PENDING):
        return f"{STATE_LABELS.get(state, state)}; regimen in force {regimen}"
    return regimen


def withheld_periods(assessment) -> list[Period]:
    periods = [
        Period(w.start, w.end, f"Dosing withheld after {w.cause}") for w in assessment.withholdings
    ]
    if assessment.discontinued_at:
        periods.append(
            Period(
                assessment.discontinued_at, None, f"Discontinued by {assessment.discontinued_by}"
            )
        )
    return periods


def lipid_rows(timeline) -> list[LipidRow]:
    rows = []
    for analyte in ("LDLC", "APOB"):
        base = timeline.baseline.get(analyte)
        label = ANALYTE_LABELS[analyte]
        if base is None:
            continue
        rows.append(LipidRow(analyte, label, base[1], base[0], None, True))
        for at, change, value in timeline.lipid_changes(analyte):
            if at > base[1]:
                rows.append(LipidRow(analyte, label, at, value, change))
    return rows


def subject_report(subject, now=None, sees_arm=True) -> SubjectReport:
    """The report; `sees_arm` False (a blinded reader) shows its arm and regimens as "Blinded"."""
    timeline = subject_pages.subject_timeline(subject, sees_arm=sees_arm)
    safety = SubjectSafetyState.objects.filter(subject=subject).first()
    # The state the stored evaluation holds; the rules' own view of the data when it is behind.
    state = safety.state if safety and not safety.pending else timeline.assessment.state
    now = now or timezone.now()
    report = SubjectReport(
        subject=subject,
        timeline=timeline,
        state=state,
        state_label=STATE_LABELS.get(state, state),
        pending=bool(safety and safety.pending),
        age=units.age_on(subject.birth_date, now.date()),
        regimen=current_regimen(subject, timeline.assessment, state, sees_arm),
        periods=withheld_periods(timeline.assessment),
        lipids=lipid_rows(timeline),
        generated_at=now,
        rules_version=timeline.assessment.rule_set.label,
        sees_arm=sees_arm,
    )
    report.chart_svg = liver_chart.liver_svg(timeline, report.periods)
    report.doses_by_regimen = dose_runs(timeline.doses)
    return report


def dose_runs(doses):
    """Consecutive doses of the same mg as runs: [(mg, count, first, last)]."""
    runs = []
    for dose in doses:
        if runs and runs[-1][0] == dose.dose_mg:
            mg, count, first, _ = runs[-1]
            runs[-1] = (mg, count + 1, first, dose.administered_at)
        else:
            runs.append((dose.dose_mg, 1, dose.administered_at, dose.administered_at))
    return runs


# ---- PDF and CSV bundle -------------------------------------------------------------------


def report_html(report: SubjectReport, paper="a4") -> str:
    return render_to_string(
        "reports/subject_report.html",
        {
            "r": report,
            "subject": report.subject,
            "paper": PAPER_SIZES.get(paper, "A4"),
            "analytes": ANALYTE_COLUMNS,
            "labels": ANALYTE_LABELS,
        },
    )


def report_pdf(report: SubjectReport, paper="a4") -> bytes:
    for name in ("weasyprint", "weasyprint.progress", "fontTools"):
        logging.getLogger(name).setLevel(logging.WARNING)  # INFO for every layout step
    from weasyprint import HTML

    return HTML(string=report_html(report, paper)).write_pdf()


def report_filename(subject, extension):
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in subject.subject_id)
    return f"hepwatch-{safe}-report.{extension}"


def bundle_datasets(report: SubjectReport):
    s = report.subject
    tl = report.timeline
    yield spreadsheets.Dataset(
        "subject",
        ["field", "value"],
        [
            ["subject_id", s.subject_id],
            ["study", s.study.code],
            ["site", s.site.code],
            ["site_name", s.site.name],
            ["arm", s.arm.code if report.sees_arm else BLINDED],
            ["arm_name", s.arm.name if report.sees_arm else BLINDED],
            ["sex", s.sex],
            ["age", report.age],
            ["birth_date", s.birth_date],
            ["enrolled_on", s.enrolled_on],
            ["active_liver_disease", s.active_liver_disease],
            ["safety_state", report.state],
            ["evaluation_pending", report.pending],
            ["current_regimen", report.regimen],
            ["rules_version", report.rules_version],
            ["generated_at", report.generated_at],
        ],
    )
    yield spreadsheets.Dataset(
        "doses",
        ["administered_at", "dose_mg", "given_despite"],
        [[d.administered_at, d.dose_mg, d.given_despite] for d in tl.doses],
    )
    yield spreadsheets.Dataset(
        "withheld_periods",
        ["start", "end", "what"],
        [[p.start, p.end, p.what] for p in report.periods],
    )
    labs = []
    for row in tl.draws:
        for analyte in ANALYTE_COLUMNS:
            r = row.results.get(analyte)
            if r is None:
                continue
            labs.append(
                [
                    row.draw.collected_at,
                    analyte,
                    r.result.value,
                    r.result.unit,
                    r.result.exact_value(),
                    r.result.canonical_unit,
                    r.result.exact_uln(),
                    r.result.uln_source,
                    r.multiple,
                    r.grade,
                    row.draw.symptoms_of_liver_injury,
                ]
            )
    yield spreadsheets.Dataset(
        "labs",
        [
            "collected_at",
            "test",
            "value",
            "unit",
            "canonical_value",
            "canonical_unit",
            "uln",
            "uln_source",
            "x_uln",
            "ctcae_grade",
            "symptoms",
        ],
        labs,
    )
    yield spreadsheets.Dataset(
        "alerts",
        [
            "alert_id",
            "rule",
            "kind",
            "severity",
            "status",
            "triggered_at",
            "due_by",
            "explanation",
            "status_reason",
        ],
        [
            [
                a.pk,
                a.rule,
                a.kind,
                a.severity,
                a.status,
                a.triggered_at,
                a.due_by,
                a.explanation,
                a.status_reason,
            ]
            for a in report.alerts
        ],
    )
    yield spreadsheets.Dataset(
        "decisions",
        ["alert_id", "action", "reason", "reviewer", "reviewer_name", "signed_at", "signature"],
        [
            [
                a.pk,
                d.action,
                d.reason,
                d.reviewer.get_username(),
                d.reviewer.get_full_name(),
                d.signed_at,
                d.signature_meaning,
            ]
            for a in report.alerts
            for d in a.decisions.all()
        ],
    )
    yield spreadsheets.Dataset(
        "lipids",
        ["test", "collected_at", "value_mg_dl", "baseline", "percent_change"],
        [
            [
                row.analyte,
                row.at,
                row.value,
                row.is_baseline,
                None if row.change is None else round(float(row.change), 2),
            ]
            for row in report.lipids
        ],
    )


def report_csv_bundle(report: SubjectReport) -> bytes:
    return spreadsheets.csv_zip_bytes(list(bundle_datasets(report)))
