"""Study exports: subjects, doses, labs, alerts, decisions and data queries as CSV and XLSX.

The subjects, doses and labs files begin with the columns of DESIGN section 5, in that order, so
`import_csv` reads them back to the same data; further columns (ignored by the import) carry what
a reader needs besides: names, canonical values, ×ULN, grades, who entered what.

The files are written by spreadsheets.py.
"""

from monitoring.formats.spreadsheets import Dataset, iso, write_csv, xlsx_bytes
from monitoring.models import Alert, DataQuery, Decision, LabResult
from monitoring.people import name_of
from subjects.access import BLINDED
from subjects.models import Dose, Subject

DATASETS = ("subjects", "doses", "labs", "alerts", "decisions", "queries")

# ---- datasets -----------------------------------------------------------------------------


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
