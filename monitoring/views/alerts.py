"""The alerts queue, bulk acknowledgement and the alert page with its signed decision."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_tables2 import RequestConfig

from monitoring.filters import AlertFilter
from monitoring.forms.entry import DRAW_ANALYTES, add_entry_error
from monitoring.forms.signed import DecisionForm
from monitoring.reports import charts
from monitoring.selectors import alert_pages, subject_pages
from monitoring.services import dosing, errors, review
from monitoring.tables import EXPORT_FORMATS, AlertTable, export_response, query_without
from subjects import access
from subjects.models import Regimen


@login_required
def alert_list(request):
    """Open cases, one row each with their alerts inside; then the other alerts."""
    alerts = AlertFilter(
        request.GET, queryset=alert_pages.alert_queue(request.user), request=request
    )
    table = AlertTable(alerts.qs.filter(case_at__isnull=True))
    if not access.can_decide(request.user):
        table.exclude = ("select",)
    RequestConfig(request, paginate={"per_page": 50}).configure(table)
    fmt = request.GET.get("export")
    if fmt in EXPORT_FORMATS:
        return export_response(AlertTable(alerts.qs), fmt, "alerts")
    return render(
        request,
        "monitoring/alert_list.html",
        {
            "filter": alerts,
            "cases": alert_pages.cases(alerts.qs),
            "cases_shown": alert_pages.CASES_SHOWN,
            "table": table,
            "export_query": query_without(request, "export"),
            "can_acknowledge": access.can_decide(request.user),
        },
    )


@login_required
@require_POST
def alerts_acknowledge(request):
    access.require(access.can_decide(request.user), access.ONLY_REVIEWERS)
    pks = [int(pk) for pk in request.POST.getlist("alerts") if pk.isdigit()]
    visible = alert_pages.alert_queue(request.user).filter(pk__in=pks)
    serious = visible.exclude(severity__in=review.BULK_SEVERITIES).count()
    count = review.acknowledge_alerts(list(visible.values_list("pk", flat=True)), request.user)
    if count:
        messages.success(request, f"{count} alert{'s' if count != 1 else ''} acknowledged.")
    if serious:
        messages.warning(
            request,
            f"{serious} high or critical alert{'s' if serious != 1 else ''} not acknowledged: "
            "each needs a signed decision on its own page.",
        )
    if not count and not serious:
        messages.warning(request, "Tick one or more open low or medium alerts to acknowledge them.")
    back = request.POST.get("next", "")
    return redirect(back if back.startswith("/alerts/") else reverse("alerts"))


@login_required
def alert_detail(request, pk):
    """An alert, or the case it belongs to, with its explanation and a signed decision that
    answers every active alert of the case at once."""
    alert = alert_pages.alert_for(request.user, pk)
    subject = alert.subject
    answers = review.answerable_alerts(alert)
    can_decide = access.can_decide(request.user)
    sees_arm = access.sees_arm_of(request.user, subject)
    if request.method == "POST" and not can_decide:
        access.require(False)
    form = None
    if can_decide and answers:
        form = DecisionForm(
            request.POST or None,
            user=request.user,
            request=request,
            choices=review.action_choices(subject, answers),
            regimens=Regimen.objects.filter(pk__in=[r.pk for r in review.reductions(subject)]),
            amendable=subject_pages.amendable_decisions(subject),
            sees_arm=sees_arm,
        )
    elif request.method == "POST":
        access.require(
            False,
            f"This alert is {alert.get_status_display().lower()}: it takes no further "
            "decisions. Its page shows its record and the decisions signed on it.",
        )
    if request.method == "POST" and form is not None and form.is_valid():
        try:
            decision = review.record_decision(
                subject,
                answers,
                request.user,
                form.cleaned_data["action"],
                form.cleaned_data["reason"],
                form.cleaned_data["password"],
                regimen=form.cleaned_data["regimen"],
                replaces=form.cleaned_data["replaces"],
            )
        except errors.EntryError as error:
            add_entry_error(form, error)
        else:
            messages.success(
                request,
                f"Decision signed for {subject}: {decision.get_action_display()}"
                f" ({len(answers)} alert{'s' if len(answers) != 1 else ''} answered).",
            )
            following = alert_pages.next_case(request.user, after=alert)
            if following is not None:
                return redirect("alert", pk=following.pk)
            return redirect("alerts")
    timeline = subject_pages.subject_timeline(subject, with_alerts=False, sees_arm=sees_arm)
    focus = alert.triggered_at
    chart = charts.liver_chart(timeline, focus=focus) if timeline.draws else None
    trigger = next((row for row in timeline.draws if row.draw.pk == alert.draw_id), None)
    case = alert_pages.case_of(alert)
    return render(
        request,
        "monitoring/alert_detail.html",
        {
            "alert": alert,
            "subject": subject,
            "case": case,
            "answers": answers,
            "decisions": timeline.decisions,
            "form": form,
            "chart": charts.figure_json(chart) if chart else None,
            "timeline": timeline,  # the chart in words (templatetags/chart_tags.py)
            "trigger": trigger,
            "analytes": DRAW_ANALYTES,
            "dosing": dosing.dosing_now(subject, timeline.history),
            "regimen": subject_pages.regimen_text(timeline.assessment, sees_arm),
            "sees_arm": sees_arm,
            "regimen_then": alert_pages.regimen_at_dose(alert, timeline.history)
            if sees_arm
            else None,
        },
    )
