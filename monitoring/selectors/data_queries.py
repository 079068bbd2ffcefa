"""Reads of data queries for pages: who sees which, what waits for whom, and a subject's open
queries by the row they are about."""

from django.db.models import Exists, OuterRef, Q

from monitoring.models import DataQuery, DataQueryStep
from subjects import access

ACTIVE = (DataQuery.Status.OPEN, DataQuery.Status.ANSWERED)


def visible_queries(user):
    """The queries of the subjects the user may see (a coordinator: their sites' only)."""
    return DataQuery.objects.filter(subject__in=access.visible_subjects(user)).select_related(
        "subject__site", "opened_by", "closed_by", "draw", "result__draw", "dose"
    )


def query_for(user, pk) -> DataQuery:
    """The query, or DataQuery.DoesNotExist (a 404) when its subject is out of the user's sight."""
    return (
        visible_queries(user)
        .prefetch_related("steps__author", "steps__corrected_result")
        .get(pk=pk)
    )


def awaiting(user):
    """What waits for this user: for a coordinator, their sites' open queries (to answer); for a
    monitor or reviewer, the answered queries they opened or sent back (to close)."""
    queries = visible_queries(user)
    if access.can_answer_queries(user):
        return queries.filter(status=DataQuery.Status.OPEN).order_by("opened_at", "pk")
    if access.can_raise_queries(user):
        # Sent back by the user: a step of theirs, asked with EXISTS rather than joined and made
        # DISTINCT (planning a DISTINCT over ten joined tables cost more than the query).
        sent_back = DataQueryStep.objects.filter(
            query=OuterRef("pk"), author=user, action=DataQueryStep.Action.REOPENED
        )
        asked = Q(opened_by=user) | Exists(sent_back)
        return queries.filter(asked, status=DataQuery.Status.ANSWERED).order_by("answered_at", "pk")
    return queries.none()


def awaiting_count(user) -> int:
    """How many queries wait for the user: counted once per request (the navigation shows it on
    every page, the dashboard too), like access.roles."""
    if not (access.can_answer_queries(user) or access.can_raise_queries(user)):
        return 0
    return access.once_per_request(
        user, "_hepwatch_queries_waiting", lambda: awaiting(user).count()
    )


def subject_queries(subject):
    """The subject's open and answered queries, oldest first."""
    return (
        DataQuery.objects.filter(subject=subject, status__in=ACTIVE)
        .select_related("opened_by", "draw", "result__draw", "dose")
        .order_by("opened_at", "pk")
    )


def by_row(queries) -> dict:
    """{("draw", pk) | ("result", pk) | ("dose", pk): [queries]}: a lab table flags a draw's
    row for the queries on the whole draw, and a value's cell for those on that result."""
    rows = {}
    for query in queries:
        if query.result_id:
            rows.setdefault(("result", query.result_id), []).append(query)
        elif query.draw_id:
            rows.setdefault(("draw", query.draw_id), []).append(query)
        else:
            rows.setdefault(("dose", query.dose_id), []).append(query)
    return rows
