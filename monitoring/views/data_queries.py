"""Data queries: the list (with its export), opening one on a subject's value, a query's page
with its steps (answer, close, send back), and answering by a correction."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render

from monitoring.formats import exports, spreadsheets
from monitoring.forms.data_queries import (
    DataQueryForm,
    QueryAnswerForm,
    QueryCloseForm,
    QuerySendBackForm,
)
from monitoring.forms.entry import CorrectionForm, add_entry_error
from monitoring.models import DataQuery, LabResult
from monitoring.selectors import data_queries as selectors
from monitoring.services import data_queries
from monitoring.services.errors import EntryError
from subjects import access

LIST_FILTERS = {
    "waiting": "Waiting for you",
    "open": "Open",
    "answered": "Answered",
    "closed": "Closed",
    "all": "All",
}


def _query_or_404(user, pk):
    try:
        return selectors.query_for(user, pk)
    except DataQuery.DoesNotExist:
        raise Http404("No such data query") from None


@login_required
def query_list(request):
    shown = request.GET.get("status", "waiting")
    if shown not in LIST_FILTERS:
        shown = "waiting"
    if shown == "waiting":
        queries = selectors.awaiting(request.user)
    else:
        queries = selectors.visible_queries(request.user).order_by("-opened_at", "-pk")
        if shown != "all":
            queries = queries.filter(status=shown)
    fmt = request.GET.get("export")
    if fmt in ("csv", "xlsx"):
        return spreadsheets.dataset_download(
            exports.queries_dataset(queries=queries), fmt, f"hepwatch-queries-{shown}"
        )
    return render(
        request,
        "monitoring/data_query_list.html",
        {
            "queries": list(queries[:500]),
            "shown": shown,
            "filters": LIST_FILTERS,
            "waiting_count": selectors.awaiting_count(request.user),
        },
    )


@login_required
def query_new(request, pk):
    access.require(access.can_raise_queries(request.user), access.ONLY_MONITORS_QUERY)
    subject = access.subject_for(request.user, pk)
    form = DataQueryForm(
        request.POST or None, subject=subject, initial={"target": request.GET.get("on", "")}
    )
    if request.method == "POST" and form.is_valid():
        try:
            query = data_queries.open_query(
                request.user, form.cleaned_data["target"], form.cleaned_data["question"]
            )
        except EntryError as error:
            add_entry_error(form, error)
        else:
            messages.success(request, f"Query {query.pk} opened. The site's coordinators are told.")
            return redirect("data_query", pk=query.pk)
    return render(request, "monitoring/data_query_form.html", {"subject": subject, "form": form})


ACTIONS = {
    "answer": (QueryAnswerForm, access.can_answer_queries, access.ONLY_COORDINATORS_ANSWER),
    "close": (QueryCloseForm, access.can_raise_queries, access.ONLY_MONITORS_QUERY),
    "send_back": (QuerySendBackForm, access.can_raise_queries, access.ONLY_MONITORS_QUERY),
}
DONE = {
    "answer": "Answer sent. The monitor is told.",
    "close": "Query closed.",
    "send_back": "Query sent back to the site, open again.",
}


@login_required
def query_detail(request, pk):
    """GET: the query and its steps, with the forms the user's role allows. POST `action`:
    answer (a coordinator of the site), close or send_back (a monitor or reviewer)."""
    action = request.POST.get("action") if request.method == "POST" else None
    if request.method == "POST":
        if action not in ACTIONS:
            raise Http404("No such action")
        form_class, allowed, refusal = ACTIONS[action]
        access.require(allowed(request.user), refusal)
    query = _query_or_404(request.user, pk)
    forms = {name: spec[0](prefix=name) for name, spec in ACTIONS.items()}
    if action:
        form = ACTIONS[action][0](request.POST, prefix=action)
        forms[action] = form
        if form.is_valid():
            try:
                _apply(request.user, query, action, form.cleaned_data)
            except data_queries.QueryClosed as error:
                messages.error(request, f"Nothing changed: {error.message}.")
                return redirect("data_query", pk=query.pk)
            except EntryError as error:
                add_entry_error(form, error)
            else:
                messages.success(request, DONE[action])
                return redirect("data_query", pk=query.pk)
    return render(
        request,
        "monitoring/data_query_detail.html",
        {
            "query": query,
            "subject": query.subject,
            "steps": list(query.steps.all()),
            "forms": forms,
            "can_answer": access.can_answer_queries(request.user)
            and query.status == DataQuery.Status.OPEN,
            "can_close": access.can_raise_queries(request.user) and not query.is_closed,
            "can_send_back": access.can_raise_queries(request.user)
            and query.status == DataQuery.Status.ANSWERED,
            "correctable": LabResult.objects.filter(
                pk__in=data_queries.correctable_result_pks(query)
            ),
        },
        status=400 if action else 200,
    )


def _apply(user, query, action, data):
    if action == "answer":
        data_queries.answer(query, user, data["answer"])
    elif action == "close":
        data_queries.close(query, user, data["note"])
    else:
        data_queries.send_back(query, user, data["follow_up"])


@login_required
def query_correct(request, pk, result_pk):
    """Answer a query by correcting one of the values it is about: the normal correction form
    (its reason required, kept in the result's history and naming the query)."""
    access.require(access.can_answer_queries(request.user), access.ONLY_COORDINATORS_ANSWER)
    query = _query_or_404(request.user, pk)
    if result_pk not in data_queries.correctable_result_pks(query):
        raise Http404("This result is not the value the query is about")
    result = get_object_or_404(LabResult.objects.select_related("draw__subject"), pk=result_pk)
    if query.status != DataQuery.Status.OPEN:
        messages.error(
            request,
            f"Query {query.pk} is {query.get_status_display().lower()}: "
            "only an open query is answered.",
        )
        return redirect("data_query", pk=query.pk)
    form = CorrectionForm(request.POST or None, result=result)
    if request.method == "POST" and form.is_valid():
        try:
            data_queries.answer_by_correction(
                query,
                request.user,
                result,
                value=form.cleaned_data["value"],
                unit=form.cleaned_data["unit"],
                reported_uln=form.cleaned_data["reported_uln"],
                reason=form.cleaned_data["reason"],
            )
        except EntryError as error:
            add_entry_error(form, error)
        else:
            messages.success(
                request,
                f"{result.analyte} corrected and query {query.pk} answered. The subject is being "
                "re-evaluated; the monitor is told.",
            )
            return redirect("data_query", pk=query.pk)
    return render(
        request,
        "monitoring/correction_form.html",
        {
            "result": result,
            "draw": result.draw,
            "subject": result.draw.subject,
            "form": form,
            "query": query,
        },
    )
