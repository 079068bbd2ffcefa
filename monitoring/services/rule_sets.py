"""Switching a study's published rule set: audited, with a reason, every subject re-evaluated."""

from django.db import transaction

from monitoring import rules
from monitoring.services import study_settings
from monitoring.services.errors import EntryError


@transaction.atomic
def set_rule_set(study, name, *, reason, user=None):
    """Switch the study to another published rule set, with a reason kept in its audit
    history, and re-evaluate every subject: alerts the new set no longer gives are retracted
    with the reason "rule set changed"."""
    if name not in rules.RULE_SETS:
        raise EntryError(
            "rule_set", f"{name!r} is not a rule set (use {', '.join(rules.RULE_SETS)})"
        )
    reason = study_settings.visible_reason(reason, "change the study's rule set")
    old = rules.RULE_SETS.get(study.rule_set, rules.DEFAULT_RULE_SET)
    new = rules.RULE_SETS[name]
    if name == study.rule_set:
        raise EntryError("rule_set", f"the study already follows {new.label}")
    study_settings.change(
        study,
        "rule_set",
        name,
        reason=reason,
        user=user,
        because=f"rule set changed from {old.label} to {new.label} ({reason})",
    )
    return new
