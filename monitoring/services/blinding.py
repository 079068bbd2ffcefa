"""Blinding writes: a study made blinded or open-label with a reason, and a safety reviewer's
signed emergency unblinding of one subject (audited, e-mailed to the unblinded group)."""

from django.db import transaction
from django.utils import timezone

from monitoring.evaluation.runner import evaluate_subjects, mark_changed
from monitoring.services import notifications
from monitoring.services.errors import EntryError
from subjects import access, inputs
from subjects.models import EmergencyUnblinding, Subject

UNBLINDING_MEANING = (
    "Electronic signature of {name} ({username}), safety reviewer: I unblind this subject's "
    "arm for an emergency, for the reason given, and I am responsible for it."
)


def _reason(reason, what):
    try:
        return inputs.visible_text(reason or "")
    except ValueError:
        raise EntryError("reason", f"a reason is required to {what}") from None


@transaction.atomic
def set_blinding(study, blinded: bool, *, reason, user=None):
    """Make the study blinded or open-label, with the reason kept in its audit history. Every
    subject is re-evaluated, so alerts written before this release of the rules' wording (which
    named the regimen) are brought to the regimen-free one; their audit history keeps the old."""
    reason = _reason(reason, "change the study's blinding")
    if study.blinded == blinded:
        mode = "blinded" if blinded else "open-label"
        raise EntryError("blinded", f"the study is already {mode}")
    study.blinded = blinded
    study._change_reason = reason
    if user is not None:
        study._history_user = user
    study.save(update_fields=["blinded"])
    pks = list(Subject.objects.filter(study=study).values_list("pk", flat=True))
    mark_changed(pks, evaluate=False)
    evaluate_subjects(pks, because=f"study made {'blinded' if blinded else 'open-label'}")
    return study


@transaction.atomic
def emergency_unblind(subject, reviewer, reason, password) -> EmergencyUnblinding:
    """Unblind one subject's arm to the signing safety reviewer: the password re-entered is the
    signature; the unblinded group is e-mailed once this commits."""
    if not access.is_reviewer(reviewer):
        raise EntryError("reviewer", "only a safety reviewer may unblind a subject")
    if not subject.study.blinded:
        raise EntryError("subject", "the study is open-label: there is nothing to unblind")
    reason = _reason(reason, "unblind a subject")
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
            name=reviewer.get_full_name() or reviewer.get_username(),
            username=reviewer.get_username(),
        ),
    )
    unblinding._history_user = reviewer
    unblinding._change_reason = reason
    unblinding.save()
    access.forget_cached(reviewer)
    transaction.on_commit(lambda: notifications.notify_unblinded_group(unblinding))
    return unblinding
