"""Study exports: subjects, doses, labs, alerts, decisions and data queries as CSV and XLSX.

The subjects, doses and labs files begin with the columns of DESIGN section 5, in that order, so
`import_csv` reads them back to the same data; further columns (ignored by the import) carry what
a reader needs besides: names, canonical values, ×ULN, grades, who entered what.

Spreadsheet formula injection (OWASP "CSV Injection"): a text cell that begins with =, +, -, @,
tab or carriage return is written with a leading apostrophe in CSV, and as a typed string with
Excel's quote prefix in XLSX (the value itself stays exact there). Numbers are written as numbers
and never escaped, so a negative number stays a number and re-imports as one; only text is.
"""

import csv
import io
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction

from django.http import HttpResponse
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from monitoring import units
from monitoring.models import Alert, DataQuery, Decision, LabResult
from monitoring.presentation import name_of
from subjects.access import BLINDED
from subjects.models import Dose, Subject

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
DATASETS = ("subjects", "doses", "labs", "alerts", "decisions", "queries")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "zip": "application/zip",
    "pdf": "application/pdf",
}


# ---- cells --------------------------------------------------------------------------------


def iso(moment) -> str:
    """ISO 8601: dates as YYYY-MM-DD, date-times in UTC with a Z."""
    if moment is None:
        return ""
    if isinstance(moment, datetime):
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return moment.isoformat()


def is_formula_like(text: str) -> bool:
    return text.startswith(FORMULA_STARTS)


def escape_text(text: str) -> str:
    """A text cell a spreadsheet will show, never run."""
    return "'" + text if is_formula_like(text) else text


def plain(value):
    """A cell's value for a file: numbers stay numbers (Decimal without trailing zeros),
    moments become ISO 8601 text, booleans true/false, None empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Fraction):
        return units.as_decimal(value, 6).normalize()
    if isinstance(value, Decimal):
        return value.normalize() if value else Decimal(0)
    if isinstance(value, datetime | date):
        return iso(value)
    return value


def csv_cell(value) -> str:
    value = plain(value)
    if isinstance(value, str):
        return escape_text(value)
    if isinstance(value, Decimal):
        return f"{value:f}"
    return str(value)


# ---- datasets -----------------------------------------------------------------------------


class Dataset:
    """A named table: header and rows of plain Python values."""

    def __init__(self, name, header, rows):
        self.name, self.header, self.rows = name, list(header), rows

    def __iter__(self):
        return iter(self.rows)


def _regimen_code(subject) -> str:
    """The code of the regimen in force at the end of the subject's history (its evaluation)."""
    safety = getattr(subject, "safety", None)
    return safety.regimen.code if safety is not None and safety.regimen else ""


def _shown(sees_arm, subject) -> bool:
    return sees_arm is None or sees_arm(subject)


def subjects_dataset(subjects=None, sees_arm=None) -> Dataset:
    """`sees_arm(subject)` False writes "Blinded" for that subject's arm and regimen."""
    subjects = subjects if subjects is not None else Subject.objects.all()
    header = [
        "subject_id",
        "site",
        "sex",
        "birth_date",
        "arm",
        "enrolled_on",
        "active_liver_disease",
        "study",
        "site_name",
        "arm_name",
        "safety_state",
        "regimen",
    ]
    rows = (
        [
            s.subject_id,
            s.site.code,
            s.sex,
            s.birth_date,
            s.arm.code if _shown(sees_arm, s) else BLINDED,
            s.enrolled_on,
            s.active_liver_disease,
            s.study.code,
            s.site.name,
            s.arm.name if _shown(sees_arm, s) else BLINDED,
            getattr(getattr(s, "safety", None), "state", ""),
            _regimen_code(s) if _shown(sees_arm, s) else BLINDED,
        ]
        for s in subjects.select_related("site", "arm", "study", "safety__regimen").order_by(
            "study__code", "subject_id"
        )
    )
    return Dataset("subjects", header, rows)


def doses_dataset(subjects=None) -> Dataset:
    doses = Dose.objects.all()
    if subjects is not None:
        doses = doses.filter(subject__in=subjects)
    header = ["subject_id", "administered_at", "dose_mg", "given_despite", "entered_by"]
    rows = (
        [
            d.subject.subject_id,
            d.administered_at,
            d.dose_mg,
            d.given_despite,
            d.entered_by.get_username() if d.entered_by else "",
        ]
        for d in doses.select_related("subject", "entered_by").order_by(
            "subject__subject_id", "administered_at"
        )
    )
    return Dataset("doses", header, rows)


def labs_dataset(subjects=None) -> Dataset:
    results = LabResult.objects.all()
    if subjects is not None:
        results = results.filter(draw__subject__in=subjects)
    header = [
        "subject_id",
        "collected_at",
        "test",
        "value",
        "unit",
        "uln",
        "symptoms",
        "canonical_value",
        "canonical_unit",
        "canonical_uln",
        "uln_source",
        "x_uln",
        "ctcae_grade",
        "lab_name",
    ]

    def rows():
        for r in results.select_related("draw__subject").order_by(
            "draw__subject__subject_id", "draw__collected_at", "analyte"
        ):
            exact = r.exact_value()
            uln = r.exact_uln()
            multiple = r.exact_multiple()
            yield [
                r.draw.subject.subject_id,
                r.draw.collected_at,
                r.analyte,
                r.value,
                r.unit,
                r.reported_uln,
                r.draw.symptoms_of_liver_injury,
                exact,
                r.canonical_unit,
                uln,
                r.uln_source,
                multiple,
                r.ctcae_grade(),
                r.draw.lab_name,
            ]

    return Dataset("labs", header, rows())


def alerts_dataset(subjects=None) -> Dataset:
    alerts = Alert.objects.all()
    if subjects is not None:
        alerts = alerts.filter(subject__in=subjects)
    header = [
        "subject_id",
        "kind",
        "severity",
        "status",
        "triggered_at",
        "due_by",
        "rule",
        "alert_id",
        "opened_at",
        "status_reason",
        "explanation",
        "rule_set",
        "rule_set_version",
    ]
    rows = (
        [
            a.subject.subject_id,
            a.kind,
            a.severity,
            a.status,
            a.triggered_at,
            a.due_by,
            a.rule,
            a.pk,
            a.opened_at,
            a.status_reason,
            a.explanation,
            a.rule_set,
            a.rule_set_version,
        ]
        for a in alerts.select_related("subject").order_by(
            "subject__subject_id", "triggered_at", "rule"
        )
    )
    return Dataset("alerts", header, rows)


def decisions_dataset(subjects=None, sees_arm=None) -> Dataset:
    decisions = Decision.objects.all()
    if subjects is not None:
        decisions = decisions.filter(subject__in=subjects)
    header = [
        "subject_id",
        "signed_at",
        "action",
        "regimen",
        "replaces_signed_at",
        "alerts",
        "reason",
        "reviewer",
        "reviewer_name",
        "transcribed",
        "signature_meaning",
    ]
    rows = (
        [
            d.subject.subject_id,
            d.signed_at,
            d.action,
            (d.regimen.code if _shown(sees_arm, d.subject) else BLINDED) if d.regimen else "",
            d.replaces.signed_at if d.replaces else "",
            " ".join(f"{a.rule}@{iso(a.triggered_at)}" for a in d.alerts.all()),
            d.reason,
            d.reviewer.get_username(),
            d.reviewer.get_full_name(),
            d.transcribed,
            d.signature_meaning,
        ]
        for d in decisions.select_related("subject__study", "reviewer", "regimen", "replaces")
        .prefetch_related("alerts")
        .order_by("subject__subject_id", "signed_at", "pk")
    )
    return Dataset("decisions", header, rows)


def _person(user):
    return name_of(user) if user else ""


def queries_dataset(subjects=None, *, queries=None) -> Dataset:
    """Data queries (of `subjects`, or the given `queries`): what is queried, the question,
    where it stands, the latest answer (and correction) and the close, and every step in order."""
    if queries is None:
        queries = DataQuery.objects.all()
        if subjects is not None:
            queries = queries.filter(subject__in=subjects)
    header = [
        "subject_id",
        "site",
        "query_id",
        "about",
        "status",
        "question",
        "opened_by",
        "opened_at",
        "answer",
        "correction",
        "answered_by",
        "answered_at",
        "closed_by",
        "closed_at",
        "close_note",
        "steps",
    ]

    def rows():
        for q in (
            queries.select_related(
                "subject__site", "opened_by", "closed_by", "draw", "result__draw", "dose"
            )
            .prefetch_related("steps__author")
            .order_by("subject__subject_id", "opened_at", "pk")
        ):
            steps = list(q.steps.all())
            answers = [s for s in steps if s.action in ("answered", "corrected")]
            last = answers[-1] if answers and q.status != DataQuery.Status.OPEN else None
            closing = steps[-1] if q.is_closed else None
            yield [
                q.subject.subject_id,
                q.subject.site.code,
                q.pk,
                q.about,
                q.status,
                q.question,
                _person(q.opened_by),
                q.opened_at,
                last.text if last else "",
                last.correction if last else "",
                _person(last.author) if last else "",
                q.answered_at,
                _person(q.closed_by),
                q.closed_at,
                closing.text if closing else "",
                " | ".join(
                    f"{iso(s.at)} {s.get_action_display()} by {_person(s.author)}: {s.text}"
                    for s in steps
                ),
            ]

    return Dataset("queries", header, rows())


BUILDERS = {
    "subjects": subjects_dataset,
    "doses": doses_dataset,
    "labs": labs_dataset,
    "alerts": alerts_dataset,
    "decisions": decisions_dataset,
    "queries": queries_dataset,
}


BLINDABLE = ("subjects", "decisions")  # the datasets that name arms or regimens


def dataset(name, subjects=None, sees_arm=None) -> Dataset:
    if name in BLINDABLE:
        return BUILDERS[name](subjects, sees_arm)
    return BUILDERS[name](subjects)


def table_dataset(table, name) -> Dataset:
    """A django-tables2 table's rows (every page, as filtered and sorted, through its columns'
    `value_*` methods) as a dataset, so a table export goes through the same writers."""
    header, *rows = table.as_values()
    return Dataset(name, header, rows)


# ---- writers ------------------------------------------------------------------------------


def write_csv(data: Dataset, handle):
    """Write a dataset to a text handle opened with newline=""."""
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow([escape_text(h) for h in data.header])
    for row in data:
        writer.writerow([csv_cell(v) for v in row])


def csv_bytes(data: Dataset) -> bytes:
    buffer = io.StringIO(newline="")
    write_csv(data, buffer)
    return buffer.getvalue().encode("utf-8")


def add_sheet(workbook, data: Dataset):
    sheet = workbook.create_sheet(data.name[:31])
    sheet.append(data.header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    widths = [len(h) for h in data.header]
    for row in data:
        values = [plain(v) for v in row]
        sheet.append(values)
        for i, (cell, value) in enumerate(zip(sheet[sheet.max_row], values, strict=True)):
            if isinstance(value, str):
                # Typed as text, with Excel's quote prefix: shown as typed, never run.
                cell.data_type = "s"
                if is_formula_like(value):
                    cell.quotePrefix = True
            widths[i] = max(widths[i], min(60, len(str(value))))
    for i, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width + 2
    sheet.freeze_panes = "A2"
    return sheet


def xlsx_bytes(datasets) -> bytes:
    workbook = Workbook()
    workbook.remove(workbook.active)
    for data in datasets:
        add_sheet(workbook, data)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def csv_zip_bytes(datasets) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for data in datasets:
            archive.writestr(f"{data.name}.csv", csv_bytes(data))
    return buffer.getvalue()


def download(content, filename, kind, inline=False) -> HttpResponse:
    """A file for the browser to save (or, inline, to show)."""
    response = HttpResponse(content, content_type=CONTENT_TYPES[kind])
    disposition = "inline" if inline else "attachment"
    response["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


def dataset_download(data: Dataset, fmt, filename) -> HttpResponse:
    """One dataset as a CSV file or a one-sheet workbook (`filename` without its extension)."""
    content = xlsx_bytes([data]) if fmt == "xlsx" else csv_bytes(data)
    return download(content, f"{filename}.{fmt}", fmt)


def export_study(output_dir, *, formats=("csv", "xlsx"), subjects=None):
    """Write every dataset as CSV files and/or one XLSX workbook; returns the paths written."""
    from pathlib import Path

    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    written = []
    if "csv" in formats:
        for name in DATASETS:
            path = output / f"{name}.csv"
            with open(path, "w", newline="", encoding="utf-8") as handle:
                write_csv(dataset(name, subjects), handle)
            written.append(path)
    if "xlsx" in formats:
        path = output / "study.xlsx"
        path.write_bytes(xlsx_bytes([dataset(name, subjects) for name in DATASETS]))
        written.append(path)
    return written
