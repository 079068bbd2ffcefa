"""The subject list (with its exports), the subject page, its status and its audit history."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django_tables2 import RequestConfig

from monitoring.filters import SubjectFilter
from monitoring.forms.entry import DRAW_ANALYTES
from monitoring.forms.signed import UnblindForm
from monitoring.reports import charts
from monitoring.selectors import audit, data_queries, subject_pages
from monitoring.services import blinding, dosing
from monitoring.services.errors import EntryError
from monitoring.tables import EXPORT_FORMATS, SubjectTable, export_response, query_without
from subjects import access

# ---- subjects -----------------------------------------------------------------------------


@login_required
def subject_list(request):
    rows = SubjectFilter(
        request.GET, queryset=subject_pages.subject_rows(request.user), request=request
    )
    table = SubjectTable(rows.qs, user=request.user)
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
    return subject_page(request, access.subject_for(request.user, pk))


@login_required
@require_POST
def subject_unblind(request, pk):
    """A safety reviewer's signed emergency unblinding of this subject."""
    access.require(access.is_reviewer(request.user), access.ONLY_REVIEWERS_UNBLIND)
    subject = access.subject_for(request.user, pk)
    form = UnblindForm(request.POST, user=request.user, request=request)
    if form.is_valid():
        try:
            blinding.emergency_unblind(
                subject, request.user, form.cleaned_data["reason"], form.cleaned_data["password"]
            )
        except EntryError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.warning(
                request, f"{subject} is unblinded to you; the unblinded group is told."
            )
            return redirect("subject", pk=subject.pk)
    return subject_page(request, subject, unblind_form=form)


def subject_page(request, subject, unblind_form=None):
    sees_arm = access.sees_arm_of(request.user, subject)
    timeline = subject_pages.subject_timeline(subject, sees_arm=sees_arm)
    liver = charts.liver_chart(timeline)
    queries = list(data_queries.subject_queries(subject))
    context = {
        "queries": queries,
        "queried": data_queries.by_row(queries),
        "subject": subject,
        "sees_arm": sees_arm,
        "unblindings": subject.unblindings.select_related("reviewer"),
        "may_unblind": access.can_emergency_unblind(request.user, subject),
        "unblind_form": unblind_form or UnblindForm(user=request.user),
        "timeline": timeline,
        "safety": subject_pages.safety_state(subject),
        "dosing": dosing.dosing_now(subject, timeline.history),
        "regimen": subject_pages.regimen_text(timeline.assessment, sees_arm),
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
    sees_arm = access.sees_arm_of(request.user, subject)
    history = audit.subject_history(subject, sees_arm, in_site_time=True)
    page = Paginator(history, 100).get_page(request.GET.get("page"))
    return render(request, "monitoring/subject_history.html", {"subject": subject, "page": page})


# ---- entry --------------------------------------------------------------------------------


# ---- alerts -------------------------------------------------------------------------------


# ---- reference ----------------------------------------------------------------------------
