"""Data queries: a monitor or reviewer asks about a recorded value, the site's coordinators
answer (by a correction through the normal lab correction, or an explanation), a monitor or
reviewer closes or sends back. Each step is one transaction, kept as a DataQueryStep and in the
query's audit history (the step's text is the history's reason); a closed query is final."""

from django.db import transaction
from django.utils import timezone

from monitoring import units
from monitoring.models import DataQuery, DataQueryStep, LabDraw, LabResult
from monitoring.services import lab_entry, notifications
from monitoring.services.errors import EntryError
from subjects import access, inputs
from subjects.models import Dose

TARGETS = {"draw": LabDraw, "result": LabResult, "dose": Dose}


class QueryClosed(EntryError):
    """A closed query is never changed again."""

    def __init__(self):
        super().__init__("status", "this query is closed and can no longer be changed")


def _text(text, field, what):
    try:
        return inputs.visible_text(text, what)
    except ValueError as error:
        raise EntryError(field, str(error)) from None


def _check_answerer(user, query):
    """Only a coordinator of the query's site answers it."""
    if not (
        access.can_answer_queries(user)
        and access.visible_subjects(user).filter(pk=query.subject_id).exists()
    ):
        raise EntryError("user", access.ONLY_COORDINATORS_ANSWER)


def _locked(query) -> DataQuery:
    query = DataQuery.objects.select_for_update().get(pk=query.pk)
    if query.is_closed:
        raise QueryClosed()
    return query


def _save(query, user, action, text, **step):
    """Save the query's new state and its step, with the step's text as the history's reason."""
    now = step.pop("at", None) or timezone.now()
    query._change_reason = f"{DataQueryStep.Action(action).label}: {text}"
    query._history_user = user
    query.save()
    return DataQueryStep.objects.create(
        query=query, action=action, author=user, at=now, text=text, **step
    )


def _tell(step):
    """E-mail about this step once the transaction commits."""
    transaction.on_commit(lambda: notifications.notify_query_step(step.pk))


@transaction.atomic
def open_query(user, target, question) -> DataQuery:
    """Open a query on a draw, a lab result or a dose (`target`), and tell the site's
    coordinators once the transaction commits."""
    if not access.can_raise_queries(user):
        raise EntryError("user", access.ONLY_MONITORS_QUERY)
    question = _text(question, "question", "the question")
    kind = next((k for k, model in TARGETS.items() if isinstance(target, model)), None)
    if kind is None:
        raise EntryError("target", "a query is opened on a lab draw, a lab result or a dose")
    subject = target.draw.subject if kind == "result" else target.subject
    now = timezone.now()
    query = DataQuery(
        subject=subject, question=question, opened_by=user, opened_at=now, **{kind: target}
    )
    query.about = query.describe_target()
    _tell(_save(query, user, DataQueryStep.Action.OPENED, question, at=now))
    return query


@transaction.atomic
def answer(query, user, text) -> DataQuery:
    """Answer an open query by explaining why the value stands."""
    _check_answerer(user, query)
    text = _text(text, "answer", "the answer")
    query = _locked(query)
    if query.status != DataQuery.Status.OPEN:
        raise EntryError("status", "this query is already answered; wait for the monitor")
    return _answered(query, user, DataQueryStep.Action.ANSWERED, text)


def _answered(query, user, action, text, **step):
    now = timezone.now()
    query.status, query.answered_at = DataQuery.Status.ANSWERED, now
    _tell(_save(query, user, action, text, at=now, **step))
    return query


@transaction.atomic
def answer_by_correction(query, user, result, *, value, unit, reported_uln, reason) -> DataQuery:
    """Answer an open query by correcting a lab result of its target through the normal
    correction (its reason in the result's history, naming the query; the subject re-evaluated)."""
    _check_answerer(user, query)
    reason = _text(reason, "reason", "the reason for the correction")
    query = _locked(query)
    if query.status != DataQuery.Status.OPEN:
        raise EntryError("status", "this query is already answered; wait for the monitor")
    if result.pk not in correctable_result_pks(query):
        raise EntryError("result", "this result is not the value the query is about")
    before = LabResult.objects.get(pk=result.pk)
    corrected = lab_entry.correct_result(
        before,
        value=value,
        unit=unit,
        reported_uln=reported_uln,
        reason=f"{reason} (answering data query {query.pk})",
        user=user,
    )
    change = f"{before.analyte} {_value(before)} → {_value(corrected)}"
    return _answered(
        query,
        user,
        DataQueryStep.Action.CORRECTED,
        reason,
        corrected_result=corrected,
        correction=change,
    )


def _value(result):
    uln = (
        f" (ULN {units.format_number(result.reported_uln)})"
        if result.reported_uln is not None
        else ""
    )
    return f"{units.format_number(result.value)} {units.unit_label(result.unit)}{uln}"


def correctable_result_pks(query) -> set:
    """The results an answer may correct: the result queried, or any result of the draw
    queried; none for a dose (doses are corrected by a re-import with a reason)."""
    if query.result_id:
        return {query.result_id}
    if query.draw_id:
        return set(LabResult.objects.filter(draw_id=query.draw_id).values_list("pk", flat=True))
    return set()


@transaction.atomic
def close(query, user, note="") -> DataQuery:
    """Close an answered query (a note is optional), or an open one withdrawn (a note is
    required: why it needs no answer). Final."""
    if not access.can_raise_queries(user):
        raise EntryError("user", access.ONLY_MONITORS_QUERY)
    query = _locked(query)
    if query.status == DataQuery.Status.OPEN:
        try:
            note = inputs.visible_text(note)
        except ValueError:
            raise EntryError(
                "note", "a query nobody answered is closed only with a note saying why"
            ) from None
    else:
        note = (note or "").strip() or "answer accepted"
    now = timezone.now()
    query.status, query.closed_by, query.closed_at = DataQuery.Status.CLOSED, user, now
    _save(query, user, DataQueryStep.Action.CLOSED, note, at=now)
    return query


@transaction.atomic
def send_back(query, user, follow_up) -> DataQuery:
    """Re-open an answered query with a follow-up question: it is open again for the site."""
    if not access.can_raise_queries(user):
        raise EntryError("user", access.ONLY_MONITORS_QUERY)
    follow_up = _text(follow_up, "follow_up", "the follow-up question")
    query = _locked(query)
    if query.status != DataQuery.Status.ANSWERED:
        raise EntryError("status", "only an answered query can be sent back")
    query.status, query.answered_at = DataQuery.Status.OPEN, None
    _tell(_save(query, user, DataQueryStep.Action.REOPENED, follow_up))
    return query
