"""The subject list (with its exports), the subject page, its status and its audit history."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render
from django_tables2 import RequestConfig

from monitoring.filters import SubjectFilter
from monitoring.forms import DRAW_ANALYTES
from monitoring.reports import charts
from monitoring.selectors import audit, data_queries, subject_pages
from monitoring.services import dosing
from monitoring.tables import EXPORT_FORMATS, SubjectTable, export_response, query_without
from subjects import access

# ---- subjects -----------------------------------------------------------------------------


@login_required
def subject_list(request):
    rows = SubjectFilter(
        request.GET, queryset=subject_pages.subject_rows(request.user), request=request
    )
    table = SubjectTable(rows.qs)
    RequestConfig(request, paginate={"per_page": 25}).configure(table)
    fmt = request.GET.get("export")
    if fmt in EXPORT_FORMATS:
        return export_response(table, fmt, "subjects")
    return render(
        request,
        "monitoring/subject_list.html",
        {"filter": rows, "table": table, "export_query": query_without(request, "export")},
    )


@login_required
def subject_detail(request, pk):
    subject = access.subject_for(request.user, pk)
    timeline = subject_pages.subject_timeline(subject)
    liver = charts.liver_chart(timeline)
    queries = list(data_queries.subject_queries(subject))
    context = {
        "queries": queries,
        "queried": data_queries.by_row(queries),
        "subject": subject,
        "timeline": timeline,
        "safety": subject_pages.safety_state(subject),
        "dosing": dosing.dosing_now(subject, timeline.history),
        "regimen": subject_pages.regimen_text(timeline.assessment),
        "liver_chart": charts.figure_json(liver) if timeline.draws or timeline.doses else None,
        "analytes": timeline.analytes_shown(DRAW_ANALYTES),
        "ldl": timeline.latest_lipid_change("LDLC") if "LDLC" in timeline.baseline else None,
        "apob": timeline.latest_lipid_change("APOB") if "APOB" in timeline.baseline else None,
    }
    if context["ldl"] or context["apob"]:
        context["lipid_chart"] = charts.figure_json(charts.lipid_chart(timeline))
    return render(request, "monitoring/subject_detail.html", context)


@login_required
def subject_status(request, pk):
    """A fragment the subject page polls while an evaluation is pending."""
    subject = access.subject_for(request.user, pk)
    safety = subject_pages.safety_state(subject)
    return render(
        request, "monitoring/_evaluation_status.html", {"subject": subject, "safety": safety}
    )


@login_required
def subject_history(request, pk):
    subject = access.subject_for(request.user, pk)
    page = Paginator(audit.subject_history(subject), 100).get_page(request.GET.get("page"))
    return render(request, "monitoring/subject_history.html", {"subject": subject, "page": page})


# ---- entry --------------------------------------------------------------------------------


# ---- alerts -------------------------------------------------------------------------------


# ---- reference ----------------------------------------------------------------------------
