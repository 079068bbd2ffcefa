"""Switching a study's published rule set: audited, with a reason, every subject re-evaluated."""

from django.db import transaction

from monitoring import rules
from monitoring.evaluation.runner import evaluate_subjects, mark_changed
from monitoring.services.errors import EntryError
from subjects import inputs
from subjects.models import Subject


@transaction.atomic
def set_rule_set(study, name, *, reason, user=None):
    """Switch the study to another published rule set, with a reason kept in its audit
    history, and re-evaluate every subject: alerts the new set no longer gives are retracted
    with the reason "rule set changed"."""
    if name not in rules.RULE_SETS:
        raise EntryError(
            "rule_set", f"{name!r} is not a rule set (use {', '.join(rules.RULE_SETS)})"
        )
    try:
        reason = inputs.visible_text(reason or "")
    except ValueError:
        raise EntryError("reason", "a reason is required to change the study's rule set") from None
    old = rules.RULE_SETS.get(study.rule_set, rules.DEFAULT_RULE_SET)
    new = rules.RULE_SETS[name]
    if name == study.rule_set:
        raise EntryError("rule_set", f"the study already follows {new.label}")
    study.rule_set = name
    study._change_reason = reason
    if user is not None:
        study._history_user = user
    study.save(update_fields=["rule_set"])
    pks = list(Subject.objects.filter(study=study).values_list("pk", flat=True))
    mark_changed(pks, evaluate=False)
    evaluate_subjects(pks, because=f"rule set changed from {old.label} to {new.label} ({reason})")
    return new
