"""A study's setting changed: its reason kept in the study's audit history, and every subject
evaluated again under the new setting (rule set, blinding)."""

from monitoring.evaluation.runner import evaluate_subjects, mark_changed
from monitoring.services.errors import EntryError
from subjects import inputs
from subjects.models import Subject


def visible_reason(reason, what) -> str:
    """The reason as given, or EntryError on `reason` when it holds no visible text."""
    try:
        return inputs.visible_text(reason or "")
    except ValueError:
        raise EntryError("reason", f"a reason is required to {what}") from None


def change(study, field, value, *, reason, user=None, because):
    """Save the study's `field` as `value` with `reason` in its history (by `user`), then
    evaluate every subject again; `because` says why in the alerts it retracts or resolves.
    Call inside the caller's transaction."""
    setattr(study, field, value)
    study._change_reason = reason
    if user is not None:
        study._history_user = user
    study.save(update_fields=[field])
    pks = list(Subject.objects.filter(study=study).values_list("pk", flat=True))
    mark_changed(pks, evaluate=False)
    evaluate_subjects(pks, because=because)
