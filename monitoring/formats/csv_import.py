"""CSV import of subjects, doses, labs and transcribed decisions (DESIGN.md section 5).

Each file is read in one streaming pass and checked whole before anything is written; then it is
written in one transaction. A bad row stops that file with `FILE:LINE: field: reason` and nothing
of it is written. Imports are idempotent on natural keys: a row already stored unchanged is left
alone, a changed value is updated with the reason "import". Subjects and doses are written by
subjects.services (write_subjects, write_doses); this module parses their files, and writes labs
and decisions itself.
"""

import csv
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from lib.bulk import insert_rows, update_with_history
from monitoring import units
from monitoring.evaluation import runner
from monitoring.models import LabDraw, LabResult
from monitoring.services import lab_entry
from subjects import inputs, services
from subjects.models import Arm, Study, Subject
from subjects.services import Change

CHANGE_REASON = "import"
BATCH = 2000

SUBJECT_COLUMNS = ("subject_id", "site", "sex", "birth_date", "arm", "enrolled_on")
DOSE_COLUMNS = ("subject_id", "administered_at", "dose_mg")
LAB_COLUMNS = ("subject_id", "collected_at", "test", "value", "unit", "uln")
DECISION_COLUMNS = ("subject_id", "signed_at", "action", "regimen", "reviewer", "reason")
TRANSCRIBED_ACTIONS = ("withhold", "resume_same_dose", "resume_reduced_dose", "discontinue")
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


class BadRow(Exception):
    """A row that stops its file: FILE:LINE: field: reason."""

    def __init__(self, path, line, field, reason):
        super().__init__(f"{path}:{line}: {field}: {reason}")
        self.path, self.line, self.field, self.reason = path, line, field, reason


@dataclass
class Summary:
    path: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    subjects: set = field(default_factory=set)

    def __str__(self):
        return (
            f"{self.path}: {self.rows} rows: {self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged"
        )


# ---- field parsers: each returns the value or raises ValueError with the reason ----------
# One of each, in subjects/inputs.py, shared with the forms and the CDISC import.

parse_datetime = inputs.parse_datetime
parse_date = inputs.parse_date
parse_bool = inputs.parse_bool


def parse_number(text: str) -> Decimal:
    """A lab value or ULN: a plain positive decimal, to the 12 decimals it is stored with."""
    return inputs.parse_decimal(text, places=inputs.LAB_PLACES)


def parse_dose(text: str) -> Decimal:
    return inputs.parse_dose(text)


# ---- reading ------------------------------------------------------------------------------


class DecodedLines:
    """A binary file's lines as text, counting them; BadRow names the first non-UTF-8 line."""

    def __init__(self, handle, path):
        self.handle, self.path, self.number = handle, path, 0

    def __iter__(self):
        for raw in self.handle:
            self.number += 1
            try:
                yield raw.decode("utf-8-sig" if self.number == 1 else "utf-8")
            except UnicodeDecodeError:
                raise BadRow(self.path, self.number, "file", "not UTF-8 text") from None


def read_rows(path, required):
    """Yield (line, row) from a UTF-8 CSV file; BadRow for a missing column or bad encoding."""
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise BadRow(path, 0, "file", exc.strerror or str(exc)) from None
    with handle:
        lines = DecodedLines(handle, path)
        reader = csv.DictReader(lines)
        try:
            header = reader.fieldnames or []
            reader.fieldnames = [(name or "").strip() for name in header]
            for column in required:
                if column not in reader.fieldnames:
                    raise BadRow(path, 1, column, "missing column")
            for row in reader:
                if None in row:
                    raise BadRow(
                        path, reader.line_num, "row", "more cells than the header has columns"
                    )
                yield reader.line_num, row
        except csv.Error as exc:
            raise BadRow(path, lines.number, "file", f"not valid CSV ({exc})") from None


def cell(path, line, row, name, parse=str):
    text = row.get(name)
    if text is None:
        text = ""
    try:
        return parse(text)
    except ValueError as exc:
        raise BadRow(path, line, name, str(exc)) from None


def required_text(text: str) -> str:
    text = text.strip()
    if not text:
        raise ValueError("is empty")
    return text


def default_study() -> Study:
    return Study.objects.get(code=settings.HEPWATCH_DEFAULT_STUDY)


# ---- subjects -----------------------------------------------------------------------------


def import_subjects(path, study=None, reason=None) -> Summary:
    study = study or default_study()
    arms = {arm.code.lower(): arm for arm in Arm.objects.filter(study=study)}
    summary = Summary(path)
    parsed = {}
    for line, row in read_rows(path, SUBJECT_COLUMNS):
        summary.rows += 1
        subject_id = cell(path, line, row, "subject_id", required_text)
        site = cell(path, line, row, "site", required_text)
        sex = cell(path, line, row, "sex", parse_sex)
        birth_date = cell(path, line, row, "birth_date", parse_date)
        arm_code = cell(path, line, row, "arm", required_text)
        if arm_code.lower() not in arms:
            raise BadRow(
                path, line, "arm", f"{arm_code!r} is not an arm of {study} (use {', '.join(arms)})"
            )
        enrolled_on = cell(path, line, row, "enrolled_on", parse_date)
        check_birth(path, line, "birth_date", birth_date, enrolled_on)
        liver = cell(path, line, row, "active_liver_disease", parse_bool)
        values = dict(
            site=site,
            sex=sex,
            birth_date=birth_date,
            arm=arms[arm_code.lower()],
            enrolled_on=enrolled_on,
        )
        if liver is not None:  # empty: not given, so a stored flag stays as it is
            values["active_liver_disease"] = liver
        repeated(path, line, "subject_id", parsed.get(subject_id), f"subject {subject_id!r}")
        parsed[subject_id] = (line, values)

    with transaction.atomic():
        write_subjects(study, parsed, summary, reason)
    return summary


def check_birth(path, line, field, birth_date, enrolled_on):
    try:
        inputs.check_birth_date(birth_date, enrolled_on)
    except ValueError as exc:
        raise BadRow(path, line, field, str(exc)) from None


def repeated(path, line, field, earlier, what, where="line"):
    """BadRow naming both lines (or records) when `earlier` (line, ...) already gave `what`."""
    if earlier is not None:
        raise BadRow(path, line, field, f"{what} is on {where} {earlier[0]} too ({where} {line})")


def parse_sex(text: str) -> str:
    value = text.strip().upper()
    if value not in ("M", "F"):
        raise ValueError(f"{text!r} is not M or F")
    return value


# ---- doses --------------------------------------------------------------------------------


def subject_lookup(study):
    return dict(Subject.objects.filter(study=study).values_list("subject_id", "pk"))


def import_doses(path, study=None, reason=None) -> Summary:
    study = study or default_study()
    subjects = subject_lookup(study)
    summary = Summary(path)
    parsed = {}
    for line, row in read_rows(path, DOSE_COLUMNS):
        summary.rows += 1
        subject_pk = known_subject(path, line, row, subjects)
        administered_at = cell(path, line, row, "administered_at", parse_datetime)
        dose_mg = cell(path, line, row, "dose_mg", parse_dose)
        key = (subject_pk, administered_at)
        repeated(path, line, "administered_at", parsed.get(key), "a dose at this time")
        parsed[key] = (line, dose_mg)

    with transaction.atomic():
        write_doses(parsed, summary, reason)
    return summary


def known_subject(path, line, row, subjects):
    subject_id = cell(path, line, row, "subject_id", required_text)
    try:
        return subjects[subject_id]
    except KeyError:
        raise BadRow(path, line, "subject_id", f"unknown subject {subject_id!r}") from None


# ---- labs ---------------------------------------------------------------------------------


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


class ReasonRequired(BadRow):
    """An import that would change stored values, given no reason: every change is listed."""

    def __init__(self, path, changes):
        count = len(changes)
        super().__init__(
            path,
            changes[0].line,
            "reason",
            f"{count} stored value{'s' if count != 1 else ''} would change; "
            "a reason for the change is required",
        )
        self.changes = changes

    def __str__(self):
        listed = "".join(f"\n{self.path}:{change}" for change in self.changes)
        return super().__str__() + listed


def require_reason(path, changes, reason):
    if changes and not reason:
        raise ReasonRequired(path, changes)


def apply_changes(changes, reason, summary, user=None):
    """Save the changes with their history and the reason; their subjects changed."""
    update_with_history(changes, reason=reason, user=user)
    summary.subjects |= {change.subject_pk for change in changes}


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


# ---- decisions ----------------------------------------------------------------------------


def import_decisions(path, study=None, *, entered_by=None) -> Summary:
    """Transcribed decisions: each row checked per subject in signing order against all of its
    labs and doses and the decisions before it; one the app would refuse is a bad row."""
    from django.contrib.auth import get_user_model

    from monitoring.services import review
    from monitoring.services.errors import EntryError
    from subjects import access
    from subjects.models import Regimen

    study = study or default_study()
    subjects = {s.subject_id: s for s in Subject.objects.filter(study=study)}
    regimens = {r.code.lower(): r for r in Regimen.objects.filter(study=study)}
    reviewers = {
        u.get_username(): u
        for u in get_user_model().objects.filter(groups__name=access.SAFETY_REVIEWER)
    }
    summary = Summary(path)
    rows, seen = [], {}
    for line, row in read_rows(path, DECISION_COLUMNS):
        summary.rows += 1
        subject_id = cell(path, line, row, "subject_id", required_text)
        if subject_id not in subjects:
            raise BadRow(path, line, "subject_id", f"unknown subject {subject_id!r}")
        signed_at = cell(path, line, row, "signed_at", parse_datetime)
        action = cell(path, line, row, "action", required_text).lower()
        if action not in TRANSCRIBED_ACTIONS:
            raise BadRow(
                path, line, "action", f"{action!r} is not one of {', '.join(TRANSCRIBED_ACTIONS)}"
            )
        code = (row.get("regimen") or "").strip()
        regimen = None
        if action == "resume_reduced_dose":
            if not code:
                raise BadRow(path, line, "regimen", "is required for resume_reduced_dose")
            regimen = regimens.get(code.lower())
            if regimen is None:
                raise BadRow(
                    path,
                    line,
                    "regimen",
                    f"{code!r} is not a regimen of {study} (use {', '.join(regimens)})",
                )
        elif code:
            raise BadRow(path, line, "regimen", f"must be empty for {action}")
        username = cell(path, line, row, "reviewer", required_text)
        if username not in reviewers:
            raise BadRow(path, line, "reviewer", f"{username!r} is not a safety reviewer")
        reason = cell(path, line, row, "reason", inputs.visible_text)
        key = (subject_id, signed_at, action)
        if key in seen:
            raise BadRow(path, line, "signed_at", f"the same decision is on line {seen[key]}")
        seen[key] = line
        rows.append(
            review.TranscribedDecision(
                line, subjects[subject_id], signed_at, action, regimen, reviewers[username], reason
            )
        )
    with transaction.atomic():
        try:
            saved = review.record_transcribed(rows, entered_by=entered_by)
        except EntryError as error:
            raise BadRow(path, error.line, error.field, error.message) from None
    summary.created = len(saved)
    summary.unchanged = len(rows) - len(saved)
    summary.subjects = {d.subject_id for d in saved}
    runner.mark_changed(summary.subjects, evaluate=False)
    return summary


# ---- writers of parsed rows, shared with the CDISC import (formats/cdisc/) -----------


def _pk(user):
    return user.pk if user is not None else None


def write_subjects(study, parsed, summary, reason=None, *, user=None):
    """Create or update subjects of `study` from {subject_id: (line, values)} through
    subjects.services.write_subjects (which see), counted in `summary`."""
    try:
        written = services.write_subjects(
            study, parsed, reason=reason, user=user, change_reason=CHANGE_REASON, evaluate=False
        )
    except services.ReasonRequired as exc:
        raise ReasonRequired(summary.path, exc.changes) from None
    _count(summary, written)


def write_doses(parsed, summary, reason=None, *, user=None):
    """Create or update doses from {(subject_pk, administered_at): (line, dose_mg)} through
    subjects.services.write_doses (which see), counted in `summary`."""
    try:
        written = services.write_doses(
            parsed, reason=reason, user=user, change_reason=CHANGE_REASON, evaluate=False
        )
    except services.ReasonRequired as exc:
        raise ReasonRequired(summary.path, exc.changes) from None
    _count(summary, written)


def _count(summary, written):
    summary.created, summary.updated = written.created, written.updated
    summary.unchanged = written.unchanged
    summary.subjects |= written.subjects
