"""CSV import of subjects, doses, labs and transcribed decisions (DESIGN.md section 5).

Each file is read in one streaming pass and checked whole before anything is written; then it is
written in one transaction. A bad row stops that file with `FILE:LINE: field: reason` and nothing
of it is written. Imports are idempotent on natural keys: a row already stored unchanged is left
alone, a changed value is updated with the reason "import".
"""

import csv
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from subjects.models import Arm, Dose, Site, Study, Subject

from . import services, units
from .bulk import insert_rows, insert_with_history
from .models import LabDraw, LabResult

CHANGE_REASON = "import"
BATCH = 2000
MAX_VALUE = Decimal(10) ** 11
PLACES = Decimal(10) ** -12

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


def parse_datetime(text: str) -> datetime:
    """ISO 8601 date-time, with or without offset (UTC when none); a bare date is 00:00 UTC."""
    text = text.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_date(text: str) -> date:
    text = text.strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date (YYYY-MM-DD)") from None


def parse_number(text: str, *, allow_zero=False) -> Decimal:
    text = text.strip()
    kind = "a number ≥ 0" if allow_zero else "a positive number"
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not {kind}") from None
    if not number.is_finite() or number < 0 or (number == 0 and not allow_zero):
        raise ValueError(f"{text!r} is not {kind}")
    if number >= MAX_VALUE:
        raise ValueError(f"{text!r} is too large")
    return number.quantize(PLACES).normalize() if number else Decimal(0)


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no", ""):
        return False
    raise ValueError(f"{text!r} is not true or false")


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


def import_subjects(path, study=None) -> Summary:
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
        liver = cell(path, line, row, "active_liver_disease", parse_bool)
        values = dict(
            site=site,
            sex=sex,
            birth_date=birth_date,
            arm=arms[arm_code.lower()],
            enrolled_on=enrolled_on,
            active_liver_disease=liver,
        )
        if subject_id in parsed and parsed[subject_id][1] != values:
            raise BadRow(
                path,
                line,
                "subject_id",
                f"{subject_id!r} is on line {parsed[subject_id][0]} with other values",
            )
        parsed[subject_id] = (line, values)

    with transaction.atomic():
        write_subjects(study, parsed, summary)
    return summary


def parse_sex(text: str) -> str:
    value = text.strip().upper()
    if value not in ("M", "F"):
        raise ValueError(f"{text!r} is not M or F")
    return value


# ---- doses --------------------------------------------------------------------------------


def subject_lookup(study):
    return dict(Subject.objects.filter(study=study).values_list("subject_id", "pk"))


def import_doses(path, study=None) -> Summary:
    study = study or default_study()
    subjects = subject_lookup(study)
    summary = Summary(path)
    parsed = {}
    for line, row in read_rows(path, DOSE_COLUMNS):
        summary.rows += 1
        subject_pk = known_subject(path, line, row, subjects)
        administered_at = cell(path, line, row, "administered_at", parse_datetime)
        dose_mg = cell(path, line, row, "dose_mg", lambda t: parse_number(t, allow_zero=True))
        key = (subject_pk, administered_at)
        if key in parsed and parsed[key][1] != dose_mg:
            raise BadRow(
                path,
                line,
                "administered_at",
                f"a dose at this time is on line {parsed[key][0]} with another dose_mg",
            )
        parsed[key] = (line, dose_mg)

    with transaction.atomic():
        write_doses(parsed, summary)
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
    symptoms = cell(path, line, row, "symptoms", parse_bool) if "symptoms" in row else None
    resulted_text = (row.get("resulted_at") or "").strip()
    resulted_at = cell(path, line, row, "resulted_at", parse_datetime) if resulted_text else None
    if resulted_at is not None and resulted_at < collected_at:
        raise BadRow(path, line, "resulted_at", "is before collected_at")
    draw = draws.setdefault(
        (subject_pk, collected_at),
        {"symptoms": None, "results": {}, "resulted_at": None, "resulted_line": None},
    )
    if draw["resulted_line"] is not None and draw["resulted_at"] != resulted_at:
        raise BadRow(
            path,
            line,
            "resulted_at",
            f"differs from line {draw['resulted_line']}: every row of a draw has the same one",
        )
    draw["resulted_at"], draw["resulted_line"] = resulted_at, line
    entry = (value, unit, uln)
    earlier = draw["results"].get(test)
    if earlier and earlier[1] != entry:
        raise BadRow(
            path, line, "value", f"{test} for this draw is on line {earlier[0]} with another value"
        )
    if symptoms is not None:
        draw["symptoms"] = bool(draw["symptoms"]) or symptoms
    draw["results"][test] = (line, entry)


def check_labs(path, study=None):
    """Every bad row of a labs file, and how many rows and draws it holds; writes nothing."""
    bad_rows = []
    draws, summary = parse_labs(path, study or default_study(), bad_rows)
    return summary.rows, len(draws), bad_rows


def import_labs(path, study=None, *, user=None) -> Summary:
    """`user`: who imports (the web import's signed-in user); none from the command line."""
    draws, summary = parse_labs(path, study or default_study())
    with transaction.atomic():
        write_labs(draws, summary, user=user)
    return summary


def write_labs(draws, summary, *, user=None):
    """Create or update draws and results from parse_labs' output. Call inside a transaction.
    What is written is credited to `user` (entered_by and the audit history), when given.

    New draws and results are written as plain rows (no model instances: a central lab's
    transfer holds hundreds of thousands); changed ones are updated with their history.
    """
    pks = {pk for pk, _ in draws}
    subjects = {
        pk: (sex, birth_date)
        for pk, sex, birth_date in Subject.objects.filter(pk__in=pks).values_list(
            "pk", "sex", "birth_date"
        )
    }
    existing_draws = {
        (d.subject_id, d.collected_at): d for d in LabDraw.objects.filter(subject_id__in=pks)
    }
    draw_pks = {key: draw.pk for key, draw in existing_draws.items()}
    now = timezone.now()
    new_draws, changed_draws = [], []
    for key, draw_data in draws.items():
        draw = existing_draws.get(key)
        symptoms, resulted_at = draw_data["symptoms"], draw_data.get("resulted_at")
        if draw is None:
            new_draws.append(key)
            continue
        changed = False
        if symptoms is not None and draw.symptoms_of_liver_injury != symptoms:
            draw.symptoms_of_liver_injury, changed = symptoms, True
        if resulted_at is not None and draw.resulted_at != resulted_at:
            draw.resulted_at, changed = resulted_at, True
        if changed:
            changed_draws.append(draw)
            summary.subjects.add(key[0])
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
    draw_pks.update(zip(new_draws, created, strict=True))
    if changed_draws:
        bulk_update_with_history(
            changed_draws,
            LabDraw,
            ["symptoms_of_liver_injury", "resulted_at"],
            batch_size=BATCH,
            default_user=user,
            default_change_reason=CHANGE_REASON,
        )

    old_draw_ids = [d.pk for d in existing_draws.values()]
    stored = {}
    for start in range(0, len(old_draw_ids), 5000):
        for result in LabResult.objects.filter(draw_id__in=old_draw_ids[start : start + 5000]):
            stored[(result.draw_id, result.analyte)] = result
    ranges = services.reference_ranges()
    to_create, to_update = [], []
    for (subject_pk, collected_at), draw_data in draws.items():
        draw_pk = draw_pks[(subject_pk, collected_at)]
        sex, birth_date = subjects[subject_pk]
        collected_on = collected_at.date()
        for analyte, (_, (value, unit, uln)) in draw_data["results"].items():
            result = stored.get((draw_pk, analyte))
            entered = (value, unit, uln)
            if result is not None and (result.value, result.unit, result.reported_uln) == entered:
                summary.unchanged += 1
                continue
            measured = units.measure(
                analyte, value, unit, uln, sex, birth_date, collected_on, ranges
            )
            summary.subjects.add(subject_pk)
            if result is None:
                to_create.append((draw_pk, analyte, value, uln, *measured))
                continue
            result.value, result.reported_uln = value, uln
            to_update.append(services.store_measurement(result, measured))
    insert_rows(LabResult, RESULT_FIELDS, to_create, change_reason=CHANGE_REASON, user=user)
    if to_update:
        bulk_update_with_history(
            to_update,
            LabResult,
            [
                "value",
                "unit",
                "reported_uln",
                "value_canonical",
                "uln",
                "uln_source",
                "uln_multiple",
            ],
            batch_size=BATCH,
            default_user=user,
            default_change_reason=CHANGE_REASON,
        )
    summary.created, summary.updated = len(to_create), len(to_update)
    services.mark_changed(summary.subjects, evaluate=False)


# ---- decisions ----------------------------------------------------------------------------


def import_decisions(path, study=None, *, entered_by=None) -> Summary:
    """Transcribed decisions: each row checked per subject in signing order against all of its
    labs and doses and the decisions before it; one the app would refuse is a bad row."""
    from django.contrib.auth import get_user_model

    from subjects import access
    from subjects.models import Regimen

    from . import review

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
        reason = cell(path, line, row, "reason", required_text)
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
        except review.DecisionError as error:
            raise BadRow(path, error.line, error.field, error.message) from None
    summary.created = len(saved)
    summary.unchanged = len(rows) - len(saved)
    summary.subjects = {d.subject_id for d in saved}
    services.mark_changed(summary.subjects, evaluate=False)
    return summary


# ---- writers of parsed rows, shared with the CDISC import (monitoring/cdisc.py) -----------


def _pk(user):
    return user.pk if user is not None else None


def write_subjects(study, parsed, summary, *, user=None):
    """Create or update subjects of `study` from {subject_id: (line, values)}. Call inside a
    transaction.

    `values` holds a site code under "site" and Subject fields (an Arm under "arm"). Only the
    fields given are compared and written, so a source without a field (CDISC DM has no
    liver-disease flag) leaves it as it is. Sites are created as needed; a change of sex or
    birth date resolves the subject's ULNs again.
    """
    sites = {s.code: s for s in Site.objects.filter(study=study)}
    for code in {v["site"] for _, v in parsed.values()} - set(sites):
        sites[code] = Site.objects.create(study=study, code=code, name=code)
    existing = {s.subject_id: s for s in Subject.objects.filter(study=study)}
    to_create, to_update, reresolve, fields = [], [], [], set()
    for subject_id, (_, values) in parsed.items():
        values = {**values, "site": sites[values["site"]]}
        subject = existing.get(subject_id)
        if subject is None:
            to_create.append(Subject(study=study, subject_id=subject_id, **values))
            continue
        diff = {k: v for k, v in values.items() if _stored(subject, k) != _given(v)}
        if not diff:
            summary.unchanged += 1
            continue
        for key, value in diff.items():
            setattr(subject, key, value)
        fields |= set(diff)
        to_update.append(subject)
        summary.subjects.add(subject.pk)
        if {"sex", "birth_date"} & set(diff):
            reresolve.append(subject)
    insert_with_history(to_create, Subject, change_reason=CHANGE_REASON, user=user)
    if to_update:
        bulk_update_with_history(
            to_update,
            Subject,
            sorted(fields),
            batch_size=BATCH,
            default_user=user,
            default_change_reason=CHANGE_REASON,
        )
    services.refresh_ulns(reresolve)
    summary.created, summary.updated = len(to_create), len(to_update)
    services.mark_changed(summary.subjects, evaluate=False)


def _stored(subject, key):
    """A subject's field for comparison; a foreign key by its id (no query per subject)."""
    if key in ("site", "arm", "study"):
        return getattr(subject, f"{key}_id")
    return getattr(subject, key)


def _given(value):
    return value.pk if isinstance(value, (Site, Arm, Study)) else value


def write_doses(parsed, summary, *, user=None):
    """Create or update doses from {(subject_pk, administered_at): (line, dose_mg)}. Call inside
    a transaction. A dose already stored unchanged is left alone."""
    existing = {
        (d.subject_id, d.administered_at): d
        for d in Dose.objects.filter(subject_id__in={pk for pk, _ in parsed})
    }
    to_create, to_update = [], []
    for (subject_pk, administered_at), (_, dose_mg) in parsed.items():
        dose = existing.get((subject_pk, administered_at))
        if dose is None:
            to_create.append(
                Dose(
                    subject_id=subject_pk,
                    administered_at=administered_at,
                    dose_mg=dose_mg,
                    entered_by=user,
                )
            )
            summary.subjects.add(subject_pk)
        elif dose.dose_mg != dose_mg:
            dose.dose_mg = dose_mg
            to_update.append(dose)
            summary.subjects.add(subject_pk)
        else:
            summary.unchanged += 1
    insert_with_history(to_create, Dose, change_reason=CHANGE_REASON, user=user)
    if to_update:
        bulk_update_with_history(
            to_update,
            Dose,
            ["dose_mg"],
            batch_size=BATCH,
            default_user=user,
            default_change_reason=CHANGE_REASON,
        )
    summary.created, summary.updated = len(to_create), len(to_update)
    services.mark_changed(summary.subjects, evaluate=False)
