"""Bring stored alerts in line with an assessment: open, keep, resolve or retract, never delete."""

from monitoring import rules
from monitoring.models import Alert


def reconcile(subject_pk, assessment, stored, now, because=None):
    """Bring stored alerts in line with an assessment; returns the alerts to create.

    An alert the assessment still demands keeps what reviewers did with it (their decisions,
    acknowledgement or dismissal); its wording, due date and the engine's resolution follow the
    data, so a correction can reopen what the engine had resolved. An alert it no longer demands
    is never deleted: a lab-driven one is retracted (its trigger was corrected away); a
    time-driven one whose moment has passed is resolved. The one exception is an undecided
    time-driven alert raised by an evaluation at a later time than this one (`evaluate --as-of`
    going back in time): it never existed as of this time, so it goes, and its audit history
    keeps the record.
    """
    by_identity = {(a.kind, a.triggered_at): a for a in stored}
    rule_set = assessment.rule_set
    to_create = []
    demanded = set()
    for finding in assessment.findings:
        identity = (finding.kind, finding.triggered_at)
        demanded.add(identity)
        alert = by_identity.get(identity)
        if alert is None:
            alert = Alert(
                subject_id=subject_pk,
                kind=finding.kind,
                rule=finding.rule.id,
                severity=finding.severity,
                severity_rank=rules.SEVERITY_ORDER[finding.severity],
                draw_id=finding.draw_key,
                dose_id=finding.dose_key,
                triggered_at=finding.triggered_at,
                due_by=finding.due_by,
                case_at=finding.case_at,
                opened_at=now,
                opened_as_of=assessment.as_of,
                explanation=finding.explanation,
                rule_set=rule_set.name,
                rule_set_version=rule_set.version,
            )
            if finding.resolution:
                alert.status = Alert.Status.RESOLVED
                alert.status_reason = finding.resolution
                alert.closed_by_rules = True
            to_create.append(alert)
            continue
        changes = {
            "explanation": finding.explanation,
            "due_by": finding.due_by,
            "draw_id": finding.draw_key,
            "dose_id": finding.dose_key,
            "case_at": finding.case_at,
        }
        reason = "updated by re-evaluation"
        dismissed = alert.status == Alert.Status.RESOLVED and not alert.closed_by_rules
        if finding.resolution and not dismissed:
            changes.update(
                status=Alert.Status.RESOLVED, status_reason=finding.resolution, closed_by_rules=True
            )
            reason = "resolved by " + rules.ENGINE_NAME
        elif not finding.resolution and alert.closed_by_rules:
            acknowledged = alert.acknowledged_at is not None
            changes.update(
                status=Alert.Status.ACKNOWLEDGED if acknowledged else Alert.Status.OPEN,
                status_reason="Raised again: the need it answered is back.",
                closed_by_rules=False,
            )
            reason = "raised again by " + rules.ENGINE_NAME
        if alert.status == Alert.Status.RETRACTED:
            changes.update(rule_set=rule_set.name, rule_set_version=rule_set.version)
        _update(alert, changes, reason)

    for identity, alert in by_identity.items():
        if identity in demanded:
            continue
        time_rule = alert.kind in rules.TIME_RULE_KINDS
        if time_rule and alert.opened_as_of > assessment.as_of and not alert.decisions.exists():
            alert._change_reason = f"not raised as of {assessment.as_of:%Y-%m-%d %H:%M} UTC"
            by_the_engine(alert).delete()
        elif alert.status == Alert.Status.RETRACTED or (
            time_rule and alert.status == Alert.Status.RESOLVED
        ):
            continue
        elif time_rule and not because:
            _update(
                alert,
                {
                    "status": Alert.Status.RESOLVED,
                    "status_reason": "The lab it asked for came: no longer overdue as of "
                    f"{rules.when(assessment.as_of)}.",
                    "closed_by_rules": True,
                },
                "resolved by " + rules.ENGINE_NAME,
            )
        else:
            _update(
                alert,
                {
                    "status": Alert.Status.RETRACTED,
                    "status_reason": (
                        f"Retracted as of {rules.when(assessment.as_of)}: {because}."
                        if because
                        else "Its trigger no longer exists as of "
                        f"{rules.when(assessment.as_of)}: the data it rested on changed."
                    ),
                    "closed_by_rules": True,
                },
                "retracted by " + rules.ENGINE_NAME,
            )
    return to_create


def _update(alert, changes, reason):
    changed = {k: v for k, v in changes.items() if getattr(alert, k) != v}
    if not changed:
        return
    for key, value in changed.items():
        setattr(alert, key, value)
    alert._change_reason = reason
    by_the_engine(alert).save(update_fields=list(changed))


def by_the_engine(alert):
    """Record in the audit history that the rules, not a person, wrote this alert. Evaluation
    may run inside someone's request (on the embedded default, or a request that evaluates on
    commit); simple_history would otherwise credit that request's user."""
    alert._history_user = None
    return alert
