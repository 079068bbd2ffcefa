"""The readable audit history of a subject: who changed what, when and why."""

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from django.contrib.auth.models import User

from monitoring import rules, units
from monitoring.models import Alert, DataQuery, Decision, LabDraw, LabResult
from monitoring.people import name_of
from subjects import access, site_time
from subjects.models import Arm, Dose, EmergencyUnblinding, Regimen, Subject

ENGINE = "hepwatch rules"


NO_USER = "system (no signed-in user)"


@dataclass
class Change:
    field: str
    old: object
    new: object


@dataclass
class HistoryEntry:
    at: datetime
    who: str  # a person's name, "hepwatch rules", or the system
    kind: str  # created / changed / deleted
    what: str
    changes: list
    reason: str
    by_engine: bool = False


HIDDEN_ON_CREATE = {
    "subject_id",
    "draw_id",
    "alert_id",
    "study_id",
    "severity_rank",
    "closed_by_rules",
    "opened_as_of",
    "value_canonical",
}


HISTORY_TYPES = {"+": "created", "~": "changed", "-": "deleted"}


SKIP_FIELDS = {"id", "history_id", "history_date", "history_change_reason", "history_type"}


# Values computed from what was entered (canonical value and ULN): rounded for reading.
DERIVED_PLACES = 2


DERIVED = {"value_canonical", "uln"}


def _describe(model_label, record, names, when):
    if model_label == "Subject":
        return f"Subject {record.subject_id}"
    if model_label == "Dose":
        return f"Dose of {when(record.administered_at)}"
    if model_label == "Lab draw":
        return f"Lab draw of {when(record.collected_at)}"
    if model_label == "Lab result":
        return f"{record.analyte} result of the {names.get((LabDraw, record.draw_id), 'lab draw')}"
    if model_label == "Alert":
        return f"Alert {record.rule} {rules.RULE_BY_KIND[record.kind].label}"
    if model_label == "Decision":
        return f"Decision of {when(record.signed_at)}"
    if model_label == "Emergency unblinding":
        return f"Emergency unblinding of {when(record.signed_at)}"
    if model_label == "Data query":
        return f"Data query {record.id}"
    return model_label


def _unit(model_label, attname, record):
    """The unit a numeric field of this history record is in, for showing with its value."""
    if model_label == "Dose" and attname == "dose_mg":
        return "mg"
    if model_label == "Lab result" and attname in ("value", "reported_uln"):
        return units.unit_label(record.unit)
    if model_label == "Lab result" and attname in DERIVED:
        return units.ANALYTES[record.analyte].canonical_unit
    return ""


def _names(sources, when):
    """{(related model, pk): how to name it} for every foreign key in these history records:
    people by their full name (else their username), draws and doses by their time, others by
    their own name."""
    wanted = {}
    for _, records, fields in sources:
        for f in fields:
            if f.is_relation:
                ids = {getattr(r, f.attname) for r in records} - {None}
                wanted.setdefault(f.related_model, set()).update(ids)
    names = {}
    for model, ids in wanted.items():
        for pk, obj in model.objects.in_bulk(ids).items():
            names[(model, pk)] = _name(obj, when)
    return names


def _name(obj, when):
    if hasattr(obj, "get_username"):
        return name_of(obj)
    if isinstance(obj, LabDraw):
        return f"lab draw of {when(obj.collected_at)}"
    if isinstance(obj, Dose):
        return f"dose of {when(obj.administered_at)}"
    if isinstance(obj, Alert):
        return f"alert {obj.rule} {obj.get_kind_display()}"
    if isinstance(obj, LabResult):
        return f"{obj.analyte} of the lab draw of {rules.when(obj.draw.collected_at)}"
    return str(obj)


def _show(model_label, field, record, names, when):
    """A field's value in a history record, as a person reads it."""
    value = getattr(record, field.attname)
    if value is None or value == "":
        return None
    if field.is_relation:
        return names.get((field.related_model, value), f"{field.verbose_name} {value} (deleted)")
    if field.choices:
        return dict(field.flatchoices).get(value, value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return when(value)
    if field.attname == "uln_multiple":
        return units.format_multiple(Fraction(value))
    if hasattr(value, "normalize"):
        if field.attname in DERIVED:
            value = round(value, DERIVED_PLACES)
        unit = _unit(model_label, field.attname, record)
        return f"{units.format_number(value)} {unit}".strip()
    return value


def _who(model_label, record, names):
    """The person who made a change; the engine for an alert no person touched."""
    if record.history_user_id is not None:
        return names.get((User, record.history_user_id), NO_USER), False
    if model_label == "Alert":
        return ENGINE, True
    return NO_USER, False


def subject_history(subject: Subject, sees_arm=True, *, in_site_time=False) -> list:
    """Every recorded change to the subject and its doses, draws, results, alerts, decisions and
    data queries, newest first: who, when, what, old → new (with units, and people and records
    by name), and the reason given (for a data query, the step's text). Without `sees_arm`, arms
    and regimens read "Blinded". Moments in UTC, as the audit trail file keeps them; in the
    site's clock with its zone for the page (`in_site_time`)."""
    if in_site_time:
        site = subject.site

        def when(moment):
            return site_time.shown(moment, site)
    else:
        when = rules.when
    draw_ids = list(LabDraw.history.filter(subject_id=subject.pk).values_list("id", flat=True))
    querysets = [
        ("Subject", Subject.history.filter(id=subject.pk)),
        ("Dose", Dose.history.filter(subject_id=subject.pk)),
        ("Lab draw", LabDraw.history.filter(subject_id=subject.pk)),
        ("Lab result", LabResult.history.filter(draw_id__in=set(draw_ids))),
        ("Alert", Alert.history.filter(subject_id=subject.pk)),
        ("Decision", Decision.history.filter(subject_id=subject.pk)),
        ("Emergency unblinding", EmergencyUnblinding.history.filter(subject_id=subject.pk)),
        ("Data query", DataQuery.history.filter(subject_id=subject.pk)),
    ]
    sources = []
    for label, records in querysets:
        fields = [
            f
            for f in records.model.instance_type._meta.fields
            if f.attname not in SKIP_FIELDS and not f.name.startswith("history")
        ]
        sources.append((label, list(records.order_by("history_date", "history_id")), fields))
    names = _names(sources, when)
    if not sees_arm:
        names.update({key: access.BLINDED for key in names if key[0] in (Arm, Regimen)})
    users = {r.history_user_id for _, records, _ in sources for r in records} - {None}
    names.update({(User, pk): _name(u, when) for pk, u in User.objects.in_bulk(users).items()})

    entries = []
    for label, records, fields in sources:
        previous = {}
        for record in records:
            before = previous.get(record.id)
            changes = []
            if record.history_type == "~" and before is not None:
                for f in fields:
                    old = _show(label, f, before, names, when)
                    new = _show(label, f, record, names, when)
                    if getattr(before, f.attname) != getattr(record, f.attname) and old != new:
                        changes.append(Change(f.verbose_name, old, new))
            elif record.history_type == "+":
                changes = [
                    Change(f.verbose_name, None, shown)
                    for f in fields
                    if f.attname not in HIDDEN_ON_CREATE
                    and (shown := _show(label, f, record, names, when)) is not None
                ]
            previous[record.id] = record
            if record.history_type == "~" and before is not None and not changes:
                continue
            who, by_engine = _who(label, record, names)
            entries.append(
                HistoryEntry(
                    record.history_date,
                    who,
                    HISTORY_TYPES.get(record.history_type, record.history_type),
                    _describe(label, record, names, when),
                    changes,
                    record.history_change_reason or "",
                    by_engine,
                )
            )
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries
