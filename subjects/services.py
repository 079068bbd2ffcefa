"""Every write to subjects and doses, bulk ones included, each in one transaction. Monitoring
hears of every change to safety data through `subject_data_changed` (one subject) or
`subjects_data_changed` (a bulk write) and re-evaluates the subjects once it commits."""

from dataclasses import dataclass, field

from django.db import transaction
from simple_history.utils import bulk_create_with_history

from lib.bulk import insert_rows, insert_with_history, update_with_history
from subjects import inputs

from .models import Arm, Dose, Site, Study, Subject
from .signals import subject_data_changed, subjects_data_changed

# The order in which write_doses gives new doses to insert_rows.
DOSE_FIELDS = ("subject_id", "administered_at", "dose_mg", "entered_by_id", "given_despite")


@transaction.atomic
def record_dose(subject: Subject, administered_at, dose_mg, *, user=None, given_despite=""):
    """Record a dose that was given; `given_despite` is the rule it broke, as confirmed."""
    dose = Dose(
        subject=subject,
        administered_at=administered_at,
        dose_mg=dose_mg,
        entered_by=user,
        given_despite=given_despite,
    )
    dose._change_reason = "entered as given despite the rules" if given_despite else "entered"
    dose.save()
    subject_data_changed.send(sender=Dose, subject=subject)
    return dose


@transaction.atomic
def update_subject(subject: Subject, *, reason, **fields):
    for name, value in fields.items():
        setattr(subject, name, value)
    subject._change_reason = reason
    subject.save()
    subject_data_changed.send(sender=Subject, subject=subject)
    return subject


@dataclass
class Change:
    """A stored value an import would change: where the file gives it, what it is, the old
    and the new value in words, and the record with the fields to set."""

    line: int
    subject_pk: int
    subject_id: str
    what: str
    old: str
    new: str
    record: object = None
    fields: dict = field(default_factory=dict)

    def __str__(self):
        return f"{self.line}: {self.subject_id} {self.what}: {self.old} → {self.new}"


class ReasonRequired(Exception):
    """A bulk write would change stored values and was given no reason: `changes` lists them."""

    def __init__(self, changes):
        super().__init__(f"{len(changes)} stored value(s) would change; a reason is required")
        self.changes = changes


@dataclass
class Written:
    """What a bulk write did: rows created, updated and left alone, and the subjects (pks)
    whose safety data changed."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    subjects: set = field(default_factory=set)


@transaction.atomic
def write_subjects(study, parsed, *, reason=None, user=None, change_reason, evaluate=True):
    """Create or update subjects of `study` from {subject_id: (line, values)}.

    `values` holds a site code under "site" and Subject fields (an Arm under "arm"). Only the
    fields given are compared and written, so a source without a field (CDISC DM has no
    liver-disease flag) leaves it as it is. Sites are created as needed. New subjects are
    saved with `change_reason`; a change of a stored value needs a `reason` (ReasonRequired).
    `evaluate=False` leaves evaluating the changed subjects to the caller (an import asks once
    at its end)."""
    sites = {s.code: s for s in Site.objects.filter(study=study)}
    for code in {v["site"] for _, v in parsed.values()} - set(sites):
        sites[code] = Site.objects.create(study=study, code=code, name=code)
    existing = {
        s.subject_id: s for s in Subject.objects.filter(study=study).select_related("site", "arm")
    }
    changes = subject_changes(parsed, existing, sites)
    if changes and not reason:
        raise ReasonRequired(changes)
    to_create = [
        Subject(study=study, subject_id=subject_id, **{**values, "site": sites[values["site"]]})
        for subject_id, (_, values) in parsed.items()
        if subject_id not in existing
    ]
    insert_with_history(to_create, Subject, change_reason=change_reason, user=user)
    update_with_history(changes, reason=reason, user=user)
    changed = {change.record for change in changes}
    written = Written(len(to_create), len(changed), len(parsed) - len(to_create) - len(changed))
    written.subjects = {change.subject_pk for change in changes}
    subjects_data_changed.send(
        sender=Subject,
        subject_pks=written.subjects,
        resolve_ulns=[c.record for c in changes if {"sex", "birth_date"} & set(c.fields)],
        evaluate=evaluate,
    )
    return written


def subject_changes(parsed, existing, sites) -> list[Change]:
    """A change per stored subject field that `parsed` gives another value."""
    changes = []
    for subject_id, (line, values) in parsed.items():
        subject = existing.get(subject_id)
        if subject is None:
            continue
        for key, value in {**values, "site": sites[values["site"]]}.items():
            if _stored(subject, key) != _given(value):
                old, new = _shown(getattr(subject, key)), _shown(value)
                changes.append(
                    Change(line, subject.pk, subject_id, key, old, new, subject, {key: value})
                )
    return changes


def _shown(value):
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (Arm, Site)):
        return value.code
    return str(value)


def _stored(subject, key):
    """A subject's field for comparison; a foreign key by its id (no query per subject)."""
    if key in ("site", "arm", "study"):
        return getattr(subject, f"{key}_id")
    return getattr(subject, key)


def _given(value):
    return value.pk if isinstance(value, (Site, Arm, Study)) else value


@transaction.atomic
def write_doses(parsed, *, reason=None, user=None, change_reason, evaluate=True):
    """Create or update doses from {(subject_pk, administered_at): (line, dose_mg)}. A dose
    already stored unchanged is left alone; a change needs a `reason` (ReasonRequired)."""
    existing = {
        (d.subject_id, d.administered_at): d
        for d in Dose.objects.filter(subject_id__in={pk for pk, _ in parsed}).select_related(
            "subject"
        )
    }
    changes = [
        Change(
            line,
            dose.subject_id,
            dose.subject.subject_id,
            f"dose at {key[1]:%Y-%m-%d %H:%M} UTC",
            f"{inputs.plain_number(dose.dose_mg)} mg",
            f"{inputs.plain_number(dose_mg)} mg",
            dose,
            {"dose_mg": dose_mg},
        )
        for key, (line, dose_mg) in parsed.items()
        if (dose := existing.get(key)) is not None and dose.dose_mg != dose_mg
    ]
    if changes and not reason:
        raise ReasonRequired(changes)
    # Plain rows, not model instances: a central lab's transfer brings tens of thousands.
    entered_by = user.pk if user is not None else None
    to_create = [
        (subject_pk, administered_at, dose_mg, entered_by, "")
        for (subject_pk, administered_at), (_, dose_mg) in parsed.items()
        if (subject_pk, administered_at) not in existing
    ]
    insert_rows(Dose, DOSE_FIELDS, to_create, change_reason=change_reason, user=user)
    update_with_history(changes, reason=reason, user=user)
    written = Written(len(to_create), len(changes), len(parsed) - len(to_create) - len(changes))
    written.subjects = {row[0] for row in to_create} | {c.subject_pk for c in changes}
    subjects_data_changed.send(
        sender=Dose, subject_pks=written.subjects, resolve_ulns=[], evaluate=evaluate
    )
    return written


@transaction.atomic
def create_generated_subjects(subjects, *, change_reason):
    """Save generated subjects (the demo study) with their history and no signal: the caller
    evaluates them once it has written their doses and labs too."""
    return bulk_create_with_history(subjects, Subject, default_change_reason=change_reason)


@transaction.atomic
def create_generated_doses(doses, *, change_reason):
    """Save generated doses (the demo study) with their history and no signal, as above."""
    return bulk_create_with_history(doses, Dose, default_change_reason=change_reason)
