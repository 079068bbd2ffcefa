"""Evaluation runs: record that data changed and ask for an evaluation on commit (the tasks
module, connected in apps.py, queues it), evaluate chunks of subjects under a lock, and the
sweeps' lists of subjects. Evaluation never waits on the broker: the sweep catches up."""

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from lib.bulk import insert_with_history
from monitoring import rules
from monitoring.evaluation.loader import load_histories
from monitoring.evaluation.reconcile import by_the_engine, reconcile
from monitoring.models import Alert, SubjectSafetyState
from monitoring.signals import alerts_opened, evaluation_requested
from subjects.models import Subject

EVALUATION_CHUNK = 200


# ---- evaluation requests ------------------------------------------------------------------


def mark_changed(subject_pks, *, evaluate=True):
    """Record that these subjects' safety data changed; evaluate them once this commits.

    A bulk import passes evaluate=False and asks once at its end, so a subject is evaluated on
    its complete data rather than once per file.
    """
    subject_pks = sorted(set(subject_pks))
    if not subject_pks:
        return
    now = timezone.now()
    changed = {"data_version": F("data_version") + 1, "data_changed_at": now}
    states = SubjectSafetyState.objects.filter(subject_id__in=subject_pks)
    # Nearly every subject has its state already: one UPDATE; the missing ones are made (by
    # this writer or a concurrent one) and counted only when it found fewer rows than subjects.
    if states.update(**changed) < len(subject_pks):
        existing = set(states.values_list("subject_id", flat=True))
        missing = [pk for pk in subject_pks if pk not in existing]
        SubjectSafetyState.objects.bulk_create(
            [SubjectSafetyState(subject_id=pk) for pk in missing], ignore_conflicts=True
        )
        SubjectSafetyState.objects.filter(subject_id__in=missing).update(**changed)
    if evaluate:
        transaction.on_commit(lambda: request_evaluation(subject_pks))


def request_evaluation(subject_pks):
    """Ask for these subjects to be evaluated (queued by monitoring.tasks, connected in apps)."""
    evaluation_requested.send(sender=SubjectSafetyState, subject_pks=sorted(set(subject_pks)))


# ---- evaluation ---------------------------------------------------------------------------


def evaluate_subjects(subject_pks, as_of=None, *, because=None):
    """Re-evaluate these subjects' whole histories and reconcile their alerts. `because` says
    why alerts the rules no longer give are retracted, when that is not a change of data (a
    change of the study's rule set).

    Loads each chunk of subjects in a handful of queries; one transaction per chunk, holding a
    lock on the subjects' safety states so two evaluations of one subject never interleave.
    Returns the number of subjects evaluated.
    """
    subject_pks = sorted(
        Subject.objects.filter(pk__in=set(subject_pks)).values_list("pk", flat=True)
    )
    done = 0
    for start in range(0, len(subject_pks), EVALUATION_CHUNK):
        done += _evaluate_chunk(subject_pks[start : start + EVALUATION_CHUNK], as_of, because)
    return done


@transaction.atomic
def _evaluate_chunk(pks, as_of, because=None):
    now = timezone.now()
    live = as_of is None  # evaluating the present: what it opens is news for the reviewers
    as_of = as_of or now
    SubjectSafetyState.objects.bulk_create(
        [SubjectSafetyState(subject_id=pk) for pk in pks], ignore_conflicts=True
    )
    versions = dict(
        SubjectSafetyState.objects.select_for_update()
        .filter(subject_id__in=pks)
        .values_list("subject_id", "data_version")
    )
    histories = load_histories(pks)
    alerts = {}
    for alert in Alert.objects.filter(subject_id__in=pks).order_by():
        alerts.setdefault(alert.subject_id, []).append(alert)
    new_alerts = []
    outcome = {}  # (state, regimen pk, regimen since, version seen) -> subject pks
    for pk, history in histories.items():
        assessment = rules.evaluate(history, as_of)
        new_alerts += reconcile(pk, assessment, alerts.get(pk, []), now, because)
        regimen_pk = assessment.regimen.key if assessment.regimen else None
        key = (assessment.state, regimen_pk, assessment.regimen_since, versions[pk])
        outcome.setdefault(key, []).append(pk)
    for alert in new_alerts:
        by_the_engine(alert)
    insert_with_history(new_alerts, Alert, change_reason="raised by " + rules.ENGINE_NAME)
    if live and new_alerts:
        opened = [alert.pk for alert in new_alerts]
        transaction.on_commit(lambda: alerts_opened.send(sender=Alert, alert_pks=opened))
    for (state, regimen_pk, since, version), subject_pks in outcome.items():
        SubjectSafetyState.objects.filter(subject_id__in=subject_pks).update(
            state=state,
            regimen_id=regimen_pk,
            regimen_since=since,
            evaluated_version=version,
            evaluated_at=now,
            evaluated_as_of=as_of,
        )
    return len(histories)


def evaluate_now(subject_pks):
    """Record a change to these subjects and evaluate them inside the caller's transaction, so
    what the change closes (a case a decision answers) is closed when the page returns."""
    mark_changed(subject_pks, evaluate=False)
    evaluate_subjects(subject_pks)


def unevaluated_subject_pks():
    return list(
        SubjectSafetyState.objects.filter(evaluated_version__lt=F("data_version")).values_list(
            "subject_id", flat=True
        )
    )


def all_subject_pks():
    return list(Subject.objects.values_list("pk", flat=True))
