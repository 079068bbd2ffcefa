"""Writes to subjects and doses, each in one transaction. Monitoring hears of every change to
safety data through `subject_data_changed` and re-evaluates the subject once it commits."""

from django.db import transaction

from .models import Dose, Subject
from .signals import subject_data_changed


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
