"""Central-lab CSV files: lab rows parsed and checked, then draws and results written in bulk."""

from fractions import Fraction
from functools import partial

from django.db import transaction
from django.utils import timezone

from lib.bulk import insert_rows
from monitoring import units
from monitoring.evaluation import runner
from monitoring.formats.csv_import import (
    CHANGE_REASON,
    BadRow,
    Summary,
    apply_changes,
    cell,
    default_study,
    known_subject,
    parse_bool,
    parse_datetime,
    parse_number,
    read_rows,
    repeated,
    require_reason,
    subject_lookup,
)
from monitoring.models import LabDraw, LabResult
from monitoring.services import lab_entry
from subjects.models import Subject
from subjects.services import Change

LAB_COLUMNS = ("subject_id", "collected_at", "test", "value", "unit", "uln")
# The order in which write_labs gives new rows to insert_rows.
DRAW_FIELDS = (
    "subject_id",
    "collected_at",
    "resulted_at",
    "lab_name",
    "symptoms_of_liver_injury",
    "entered_by_id",
    "entered_at",
)
RESULT_FIELDS = ("draw_id", "analyte", "value", "reported_uln", *units.Measurement._fields)


def parse_test(text: str) -> str:
    code = text.strip().upper()
    if code not in units.ANALYTES:
        raise ValueError(f"unknown test {text.strip()!r} (use {', '.join(units.ANALYTES)})")
    return code


def parse_labs(path, study, bad_rows=None):
    """Read a labs file into draws: {(subject_pk, collected_at): {"symptoms", "results"}}.

    Without `bad_rows` the first bad row raises BadRow; with a list, every bad row is added to
    it and the rest are read (for a preview). A missing column or bad encoding always raises.
    """
    subjects = subject_lookup(study)
    summary = Summary(path)
    draws = {}
    for line, row in read_rows(path, LAB_COLUMNS):
        summary.rows += 1
        try:
            parse_lab_row(path, line, row, subjects, draws)
        except BadRow as bad:
            if bad_rows is None:
                raise
            bad_rows.append(bad)
    return draws, summary


def parse_lab_row(path, line, row, subjects, draws):
    subject_pk = known_subject(path, line, row, subjects)
    collected_at = cell(path, line, row, "collected_at", parse_datetime)
    test = cell(path, line, row, "test", parse_test)
    value = cell(path, line, row, "value", parse_number)
    unit = cell(path, line, row, "unit", partial(units.normalise_unit, test))
    uln_text = (row.get("uln") or "").strip()
    uln = cell(path, line, row, "uln", parse_number) if uln_text else None
    plausible(path, line, test, value, unit, uln)
    symptoms = cell(path, line, row, "symptoms", parse_bool) if "symptoms" in row else None
    resulted_text = (row.get("resulted_at") or "").strip()
    resulted_at = cell(path, line, row, "resulted_at", parse_datetime) if resulted_text else None
    if resulted_at is not None and resulted_at < collected_at:
        raise BadRow(path, line, "resulted_at", "is before collected_at")
    draw = draws.setdefault(
        (subject_pk, collected_at),
        {"line": line, "symptoms": None, "results": {}, "resulted_at": resulted_at},
    )
    if draw["resulted_at"] != resulted_at:
        raise BadRow(
            path,
            line,
            "resulted_at",
            f"differs from line {draw['line']}: every row of a draw has the same one",
        )
    entry = (value, unit, uln)
    repeated(path, line, "test", draw["results"].get(test), f"{test} for this draw")
    if symptoms is not None:
        draw["symptoms"] = bool(draw["symptoms"]) or symptoms
    draw["results"][test] = (line, entry)


def plausible(path, line, test, value, unit, uln, fields=("value", "uln")):
    """BadRow on the value's or the ULN's column (`fields` names them) when it is outside the
    plausibility limits."""
    try:
        units.check_plausible(test, value, unit, uln)
    except units.LimitError as error:
        column = fields[0] if error.field == "value" else fields[1]
        raise BadRow(path, line, column, error.message) from None


def check_labs(path, study=None):
    """Every bad row of a labs file, and how many rows and draws it holds; writes nothing."""
    bad_rows = []
    draws, summary = parse_labs(path, study or default_study(), bad_rows)
    return summary.rows, len(draws), bad_rows


def import_labs(path, study=None, reason=None, *, user=None) -> Summary:
    """`user`: who imports (the web import's signed-in user); none from the command line."""
    draws, summary = parse_labs(path, study or default_study())
    with transaction.atomic():
        write_labs(draws, summary, reason, user=user)
    return summary


def write_labs(draws, summary, reason=None, *, user=None):
    """Create or update draws and results from parse_labs' output. Call inside a transaction.

    New draws and results are written as plain rows (no model instances: a central lab's
    transfer holds hundreds of thousands); changed ones are updated with their history, and
    only with a reason (ReasonRequired lists them otherwise, before anything is written).
    What is written is credited to `user` (entered_by and the audit history), when given.
    """
    stored = StoredLabs(draws)
    changes = lab_changes(draws, stored)
    require_reason(summary.path, changes, reason)
    now = timezone.now()
    new_draws = [key for key in draws if key not in stored.draws]
    # Without a result time an imported draw was known when it was collected (section 2).
    created = insert_rows(
        LabDraw,
        DRAW_FIELDS,
        [
            (
                *key,
                draws[key].get("resulted_at") or key[1],
                "",
                bool(draws[key]["symptoms"]),
                _pk(user),
                now,
            )
            for key in new_draws
        ],
        change_reason=CHANGE_REASON,
        user=user,
    )
    draw_pks = {key: draw.pk for key, draw in stored.draws.items()}
    draw_pks.update(zip(new_draws, created, strict=True))
    to_create = []
    for (subject_pk, collected_at), draw_data in draws.items():
        draw_pk = draw_pks[(subject_pk, collected_at)]
        for analyte, (_, (value, unit, uln)) in draw_data["results"].items():
            if (draw_pk, analyte) in stored.results:
                continue
            measured = stored.measure(subject_pk, collected_at, analyte, value, unit, uln)
            to_create.append((draw_pk, analyte, value, uln, *measured))
            summary.subjects.add(subject_pk)
    insert_rows(LabResult, RESULT_FIELDS, to_create, change_reason=CHANGE_REASON, user=user)
    apply_changes(changes, reason, summary, user)
    results_changed = sum(1 for c in changes if isinstance(c.record, LabResult))
    summary.created, summary.updated = len(to_create), results_changed
    summary.unchanged = sum(len(d["results"]) for d in draws.values()) - len(to_create)
    summary.unchanged -= results_changed
    runner.mark_changed(summary.subjects, evaluate=False)


class StoredLabs:
    """What is stored of the draws a labs file gives: the draws, their results, and each
    subject's sex, birth date and ID, read in a few queries."""

    def __init__(self, draws):
        pks = {pk for pk, _ in draws}
        self.subjects = {
            pk: (sex, birth_date, subject_id)
            for pk, sex, birth_date, subject_id in Subject.objects.filter(pk__in=pks).values_list(
                "pk", "sex", "birth_date", "subject_id"
            )
        }
        self.draws = {
            (d.subject_id, d.collected_at): d for d in LabDraw.objects.filter(subject_id__in=pks)
        }
        draw_ids = [d.pk for d in self.draws.values()]
        self.results = {}
        for start in range(0, len(draw_ids), 5000):
            for result in LabResult.objects.filter(draw_id__in=draw_ids[start : start + 5000]):
                self.results[(result.draw_id, result.analyte)] = result
        self.ranges = lab_entry.reference_ranges()

    def measure(self, subject_pk, collected_at, analyte, value, unit, uln):
        sex, birth_date, _ = self.subjects[subject_pk]
        return units.measure(
            analyte, value, unit, uln, sex, birth_date, collected_at.date(), self.ranges
        )


def lab_changes(draws, stored=None) -> list[Change]:
    """The stored results and draw flags that parse_labs' draws would change. A result is
    changed when its value, unit or ULN is; a ULN now reported that equals the one resolved
    before changes nothing."""
    stored = stored or StoredLabs(draws)
    changes = []
    for key, draw_data in draws.items():
        draw = stored.draws.get(key)
        if draw is None:
            continue
        subject_id = stored.subjects[key[0]][2]
        when = f"draw of {key[1]:%Y-%m-%d %H:%M} UTC"
        resulted_at = draw_data.get("resulted_at")
        if resulted_at is not None and draw.resulted_at != resulted_at:
            changes.append(
                Change(
                    draw_data["line"],
                    key[0],
                    subject_id,
                    f"{when}: results known",
                    f"{draw.resulted_at:%Y-%m-%d %H:%M} UTC",
                    f"{resulted_at:%Y-%m-%d %H:%M} UTC",
                    draw,
                    {"resulted_at": resulted_at},
                )
            )
        symptoms = draw_data["symptoms"]
        if symptoms is not None and draw.symptoms_of_liver_injury != symptoms:
            changes.append(
                Change(
                    draw_data["line"],
                    key[0],
                    subject_id,
                    f"{when}: symptoms",
                    _yes_no(draw.symptoms_of_liver_injury),
                    _yes_no(symptoms),
                    draw,
                    {"symptoms_of_liver_injury": symptoms},
                )
            )
        for analyte, (line, (value, unit, uln)) in draw_data["results"].items():
            result = stored.results.get((draw.pk, analyte))
            if result is None:
                continue
            measured = stored.measure(key[0], key[1], analyte, value, unit, uln)
            if (result.value, result.unit, result.uln) == (value, measured.unit, measured.uln):
                continue  # the same result, its ULN perhaps reported now rather than resolved
            changes.append(
                Change(
                    line,
                    key[0],
                    subject_id,
                    f"{when}: {analyte}",
                    _result_text(result.value, result.unit, result.uln_multiple),
                    _result_text(value, measured.unit, measured.uln_multiple),
                    result,
                    {"value": value, "reported_uln": uln, **measured._asdict()},
                )
            )
    return changes


def _yes_no(flag):
    return "yes" if flag else "no"


def _result_text(value, unit, multiple):
    text = f"{units.format_number(value)} {units.unit_label(unit)}"
    if multiple is not None:
        text += f" ({units.format_multiple(Fraction(multiple))} ULN)"
    return text


def _pk(user):
    return user.pk if user is not None else None
