"""Writes to subjects and doses, each in one transaction. Monitoring hears of every change to
safety data through `subject_data_changed` and re-evaluates the subject once it commits."""

from django.db import transaction

from .models import Dose, Subject
from .signals import subject_data_changed


class DoseRefused(ValueError):
    """A dose the subject's safety state does not allow, with the reason."""


@transaction.atomic
def record_dose(subject: Subject, administered_at, dose_mg, *, user=None, override_reason=""):
    dose = Dose(
        subject=subject,
        administered_at=administered_at,
        dose_mg=dose_mg,
        entered_by=user,
        override_reason=override_reason,
    )
    dose._change_reason = override_reason or "entered"
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
