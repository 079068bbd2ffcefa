"""The subject report: its content as plain data, an SVG chart drawn here (vector, no browser),
the PDF made offline by WeasyPrint from templates/reports/subject_report.html, and the same
content as a bundle of CSV files."""

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from xml.sax.saxutils import escape

from django.template.loader import render_to_string
from django.utils import timezone

from monitoring import rules, units
from monitoring.formats import exports
from monitoring.models import SubjectSafetyState
from monitoring.presentation import (
    ALT_COLOUR,
    ANALYTE_LABELS,
    AST_COLOUR,
    DOSE_COLOUR,
    GRID,
    INK,
    MUTED,
    STATE_LABELS,
    TBIL_COLOUR,
)
from monitoring.selectors import subject_pages

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

    @property
    def alerts(self):
        """Every alert, retracted ones included, in the order they were triggered."""
        return sorted(self.timeline.alerts, key=lambda a: (a.triggered_at, a.severity_rank))

    @property
    def doses(self):
        return self.timeline.doses


def current_regimen(subject, assessment, state) -> str:
    """What the subject is on now, in words: the regimen in force and since when."""
    regimen = subject_pages.regimen_text(assessment)
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


def subject_report(subject, now=None) -> SubjectReport:
    timeline = subject_pages.subject_timeline(subject)
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
        regimen=current_regimen(subject, timeline.assessment, state),
        periods=withheld_periods(timeline.assessment),
        lipids=lipid_rows(timeline),
        generated_at=now,
        rules_version=timeline.assessment.rule_set.label,
    )
    report.chart_svg = liver_svg(timeline, now)
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


# ---- the chart, as SVG ------------------------------------------------------------------


def _num(x):
    return f"{x:.1f}"


def liver_svg(timeline, now, width=720, height=340) -> str:
    """ALT and AST ×ULN over time with 1×/3×/5× lines, withheld periods shaded, doses as ticks,
    and bilirubin ×ULN below, on one time axis."""
    left, right, top = 52, 16, 26
    main_h, dose_h, tbil_h, gap = 170, 22, 70, 10
    main_top = top
    dose_top = main_top + main_h + gap
    tbil_top = dose_top + dose_h + gap
    plot_w = width - left - right

    series = {}
    for analyte in ("ALT", "AST", "TBIL"):
        series[analyte] = [
            (row.draw.collected_at, float(r.multiple))
            for row in timeline.draws
            if (r := row.results.get(analyte)) is not None and r.multiple is not None
        ]
    moments = [t for s in series.values() for t, _ in s] + [
        d.administered_at for d in timeline.doses
    ]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" font-family="DejaVu Sans, sans-serif" font-size="10" '
        f'role="img" aria-label="ALT and AST times ULN over time, doses and bilirubin">'
    ]
    if not moments:
        parts.append(
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="{MUTED}">'
            "No labs or doses yet.</text></svg>"
        )
        return "".join(parts)
    start, end = min(moments), max(moments)
    span = max((end - start).total_seconds(), 86400 * 7)
    start -= timedelta(seconds=span * 0.03)
    end = start + timedelta(seconds=span * 1.06)
    total = (end - start).total_seconds()

    def x(moment):
        return left + plot_w * (moment - start).total_seconds() / total

    ymax = max([6.0, *[v + 0.6 for _, v in series["ALT"] + series["AST"]]])
    tmax = max([2.6, *[v + 0.3 for _, v in series["TBIL"]]])

    def y_main(v):
        return main_top + main_h * (1 - v / ymax)

    def y_tbil(v):
        return tbil_top + tbil_h * (1 - v / tmax)

    # Withheld and discontinued periods, shaded across all panels.
    labelled = []
    for period in withheld_periods(timeline.assessment):
        x0 = x(period.start)
        x1 = x(period.end) if period.end else left + plot_w
        fill = "#8c141e" if period.end is None and "Discontinued" in period.what else "#d65c26"
        parts.append(
            f'<rect x="{_num(x0)}" y="{main_top}" width="{_num(max(x1 - x0, 1.5))}" '
            f'height="{tbil_top + tbil_h - main_top}" fill="{fill}" fill-opacity="0.12"/>'
        )
        label = "discontinued" if "Discontinued" in period.what else "withheld"
        # Labels of periods that start close together go on separate lines.
        line = sum(1 for other in labelled if abs(other - x0) < 60)
        labelled.append(x0)
        parts.append(
            f'<text x="{_num(x0 + 3)}" y="{main_top + 11 + 11 * line}" fill="#8c2f10" '
            f'font-size="9">{label}</text>'
        )

    # Frames and grid.
    for top_y, h in ((main_top, main_h), (dose_top, dose_h), (tbil_top, tbil_h)):
        parts.append(
            f'<rect x="{left}" y="{top_y}" width="{plot_w}" height="{h}" fill="none" '
            f'stroke="#c9d1d9" stroke-width="0.8"/>'
        )
    step = 1 if ymax <= 8 else 2 if ymax <= 16 else 5
    v = 0
    while v <= ymax:
        yy = y_main(v)
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{_num(yy)}" y2="{_num(yy)}" '
            f'stroke="{GRID}" stroke-width="0.6"/>'
            f'<text x="{left - 5}" y="{_num(yy + 3)}" text-anchor="end" fill="{MUTED}">{v}×</text>'
        )
        v += step
    for v in (0, 1, 2):
        if v <= tmax:
            yy = y_tbil(v)
            parts.append(
                f'<text x="{left - 5}" y="{_num(yy + 3)}" text-anchor="end" fill="{MUTED}">'
                f"{v}×</text>"
            )
    # Month ticks on the shared axis.
    tick = datetime(start.year, start.month, 1, tzinfo=UTC)
    while tick <= end:
        if tick >= start:
            xx = x(tick)
            parts.append(
                f'<line x1="{_num(xx)}" x2="{_num(xx)}" y1="{main_top}" '
                f'y2="{tbil_top + tbil_h}" stroke="{GRID}" stroke-width="0.6"/>'
                f'<text x="{_num(xx)}" y="{tbil_top + tbil_h + 13}" text-anchor="middle" '
                f'fill="{MUTED}">{tick:%b %Y}</text>'
            )
        tick = datetime(tick.year + tick.month // 12, tick.month % 12 + 1, 1, tzinfo=UTC)

    # Threshold lines.
    for level, label, colour in ((1, "1× ULN", "#8a96a3"), (3, "3× withhold", "#d65c26")):
        yy = y_main(level)
        parts.append(_hline(left, plot_w, yy, colour, label))
    parts.append(_hline(left, plot_w, y_main(5), "#b3261e", "5× severe"))
    parts.append(_hline(left, plot_w, y_tbil(1), "#8a96a3", ""))
    parts.append(_hline(left, plot_w, y_tbil(2), "#b3261e", "2× (Hy's law)"))

    # Series.
    for analyte, colour, dash, marker in (
        ("ALT", ALT_COLOUR, "", "circle"),
        ("AST", AST_COLOUR, "4 2", "square"),
    ):
        parts.append(_series(series[analyte], x, y_main, colour, dash, marker))
    parts.append(_series(series["TBIL"], x, y_tbil, TBIL_COLOUR, "", "circle"))

    # Doses: ticks whose height shows the mg.
    if timeline.doses:
        top_mg = max(float(d.dose_mg) for d in timeline.doses) or 1
        for dose in timeline.doses:
            xx = x(dose.administered_at)
            h = 4 + (dose_h - 6) * float(dose.dose_mg) / top_mg
            parts.append(
                f'<line x1="{_num(xx)}" x2="{_num(xx)}" y1="{_num(dose_top + dose_h - 1)}" '
                f'y2="{_num(dose_top + dose_h - 1 - h)}" stroke="{DOSE_COLOUR}" '
                f'stroke-width="1.2"/>'
            )

    # Panel titles and legend.
    parts.append(
        f'<text x="{left - 46}" y="{_num(main_top + main_h / 2)}" fill="{INK}" '
        f'transform="rotate(-90 {left - 46} {_num(main_top + main_h / 2)})" '
        f'text-anchor="middle">ALT / AST × ULN</text>'
        f'<text x="{left - 5}" y="{dose_top + 15}" text-anchor="end" fill="{INK}">Dose</text>'
        f'<text x="{left - 46}" y="{_num(tbil_top + tbil_h / 2)}" fill="{INK}" '
        f'transform="rotate(-90 {left - 46} {_num(tbil_top + tbil_h / 2)})" '
        f'text-anchor="middle">TBIL × ULN</text>'
    )
    legend = [
        ("ALT ×ULN", ALT_COLOUR, ""),
        ("AST ×ULN", AST_COLOUR, "4 2"),
        ("Bilirubin ×ULN", TBIL_COLOUR, ""),
        ("Dose (height = mg)", DOSE_COLOUR, ""),
    ]
    lx = left
    for label, colour, dash in legend:
        parts.append(
            f'<line x1="{lx}" x2="{lx + 18}" y1="12" y2="12" stroke="{colour}" stroke-width="2"'
            + (f' stroke-dasharray="{dash}"' if dash else "")
            + f'/><text x="{lx + 22}" y="15" fill="{INK}">{escape(label)}</text>'
        )
        lx += 28 + 6.2 * len(label)
    parts.append(
        f'<rect x="{lx}" y="6" width="14" height="10" fill="#d65c26" fill-opacity="0.15"/>'
        f'<text x="{lx + 18}" y="15" fill="{INK}">withheld</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _hline(left, width, y, colour, label):
    text = (
        f'<text x="{left + width - 3}" y="{_num(y - 2.5)}" text-anchor="end" fill="{colour}" '
        f'font-size="9">{escape(label)}</text>'
        if label
        else ""
    )
    return (
        f'<line x1="{left}" x2="{left + width}" y1="{_num(y)}" y2="{_num(y)}" stroke="{colour}" '
        f'stroke-width="0.9" stroke-dasharray="5 3"/>{text}'
    )


def _series(points, x, y, colour, dash, marker):
    if not points:
        return ""
    coords = " ".join(f"{_num(x(t))},{_num(y(v))}" for t, v in points)
    out = [
        f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="1.6"'
        + (f' stroke-dasharray="{dash}"' if dash else "")
        + "/>"
    ]
    for t, v in points:
        if marker == "square":
            out.append(
                f'<rect x="{_num(x(t) - 2.6)}" y="{_num(y(v) - 2.6)}" width="5.2" height="5.2" '
                f'fill="{colour}"/>'
            )
        else:
            out.append(f'<circle cx="{_num(x(t))}" cy="{_num(y(v))}" r="2.8" fill="{colour}"/>')
    return "".join(out)


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
    yield exports.Dataset(
        "subject",
        ["field", "value"],
        [
            ["subject_id", s.subject_id],
            ["study", s.study.code],
            ["site", s.site.code],
            ["site_name", s.site.name],
            ["arm", s.arm.code],
            ["arm_name", s.arm.name],
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
    yield exports.Dataset(
        "doses",
        ["administered_at", "dose_mg", "given_despite"],
        [[d.administered_at, d.dose_mg, d.given_despite] for d in tl.doses],
    )
    yield exports.Dataset(
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
    yield exports.Dataset(
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
    yield exports.Dataset(
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
    yield exports.Dataset(
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
    yield exports.Dataset(
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
    return exports.csv_zip_bytes(list(bundle_datasets(report)))
