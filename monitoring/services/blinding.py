"""Blinding writes: a study made blinded or open-label with a reason, and a safety reviewer's
signed emergency unblinding of one subject (audited, e-mailed to the unblinded group)."""

from django.db import transaction
from django.utils import timezone

from monitoring.people import name_of
from monitoring.services import notifications, study_settings
from monitoring.services.errors import EntryError
from subjects import access
from subjects.models import EmergencyUnblinding

UNBLINDING_MEANING = (
    "Electronic signature of {name} ({username}), safety reviewer: I unblind this subject's "
    "arm for an emergency, for the reason given, and I am responsible for it."
)


@transaction.atomic
def set_blinding(study, blinded: bool, *, reason, user=None):
    """Make the study blinded or open-label, with the reason kept in its audit history. Every
    subject is re-evaluated, so alerts written before this release of the rules' wording (which
    named the regimen) are brought to the regimen-free one; their audit history keeps the old."""
    reason = study_settings.visible_reason(reason, "change the study's blinding")
    mode = "blinded" if blinded else "open-label"
    if study.blinded == blinded:
        raise EntryError("blinded", f"the study is already {mode}")
    study_settings.change(
        study, "blinded", blinded, reason=reason, user=user, because=f"study made {mode}"
    )
    return study


@transaction.atomic
def emergency_unblind(subject, reviewer, reason, password) -> EmergencyUnblinding:
    """Unblind one subject's arm to the signing safety reviewer: the password re-entered is the
    signature; the unblinded group is e-mailed once this commits."""
    if not access.is_reviewer(reviewer):
        raise EntryError("reviewer", "only a safety reviewer may unblind a subject")
    if not subject.study.blinded:
        raise EntryError("subject", "the study is open-label: there is nothing to unblind")
    reason = study_settings.visible_reason(reason, "unblind a subject")
    if not password or not reviewer.check_password(password):
        raise EntryError("password", "the password does not match: the unblinding is not signed")
    if EmergencyUnblinding.objects.filter(subject=subject, reviewer=reviewer).exists():
        raise EntryError("subject", f"you have already unblinded {subject}")
    unblinding = EmergencyUnblinding(
        subject=subject,
        reviewer=reviewer,
        reason=reason,
        signed_at=timezone.now(),
        signature=UNBLINDING_MEANING.format(
            name=name_of(reviewer),
            username=reviewer.get_username(),
        ),
    )
    unblinding._history_user = reviewer
    unblinding._change_reason = reason
    unblinding.save()
    access.forget_cached(reviewer)
    transaction.on_commit(lambda: notifications.notify_unblinded_group(unblinding))
    return unblinding
