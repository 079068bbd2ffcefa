"""CSV import (DESIGN.md section 5): reading and checking rows, and the subject and dose files.

Each file is read in one streaming pass and checked whole before anything is written; then it is
written in one transaction. A bad row stops that file with `FILE:LINE: field: reason` and nothing
of it is written. Imports are idempotent on natural keys: a row already stored unchanged is left
alone, a changed value is updated with the reason "import". Subjects and doses are written by
subjects.services (write_subjects, write_doses); labs files are lab_csv.py's, transcribed
decisions decision_import.py's, both built on the reading here.
"""

import csv
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from lib.bulk import update_with_history
from subjects import inputs, services
from subjects.models import Arm, Study, Subject

CHANGE_REASON = "import"
BATCH = 2000

SUBJECT_COLUMNS = ("subject_id", "site", "sex", "birth_date", "arm", "enrolled_on")
DOSE_COLUMNS = ("subject_id", "administered_at", "dose_mg")


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


# ---- writers of parsed rows, shared with the CDISC import (formats/cdisc/) -----------


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
