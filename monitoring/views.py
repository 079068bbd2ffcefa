"""Pages. Thin: access checks, a form, one service or selector call, a template."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.contrib.auth.views import LoginView
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_tables2 import RequestConfig

from subjects import access
from subjects.forms import DoseForm
from subjects.models import Regimen

from . import charts, ctcae, review, rules, selectors, services, units
from .filters import AlertFilter, SubjectFilter
from .forms import (
    DRAW_ANALYTES,
    CorrectionForm,
    DecisionForm,
    DrawForm,
    add_entry_error,
)
from .models import Alert, LabDraw, LabResult
from .tables import AlertTable, SubjectTable, export_response

EXPORT_FORMATS = ("csv", "xlsx")
ONLY_COORDINATORS_LABS = "Only a study coordinator of the subject's site enters and corrects labs."
ONLY_COORDINATORS_DOSES = "Only a study coordinator of the subject's site records doses."
ONLY_REVIEWERS = "Only a safety reviewer signs decisions on alerts and acknowledges them."


class SignInView(LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if settings.DEBUG:
            from . import demo

            names = [username for username, *_ in demo.DEMO_USERS]
            if User.objects.filter(username__in=names).exists():
                context["demo_users"] = [
                    (username, name, access.ROLE_LABELS[group], sites)
                    for username, group, name, sites in demo.DEMO_USERS
                ]
                context["demo_password"] = demo.DEMO_PASSWORD
        return context


@login_required
def dashboard(request):
    return render(request, "monitoring/dashboard.html", {"d": selectors.dashboard(request.user)})


# ---- subjects -----------------------------------------------------------------------------


@login_required
def subject_list(request):
    rows = SubjectFilter(
        request.GET, queryset=selectors.subject_rows(request.user), request=request
    )
    table = SubjectTable(rows.qs)
    RequestConfig(request, paginate={"per_page": 25}).configure(table)
    fmt = request.GET.get("export")
    if fmt in EXPORT_FORMATS:
        return export_response(table, fmt, "subjects")
    return render(
        request,
        "monitoring/subject_list.html",
        {"filter": rows, "table": table, "export_query": _query_without(request, "export")},
    )


@login_required
def subject_detail(request, pk):
    subject = access.subject_for(request.user, pk)
    timeline = selectors.subject_timeline(subject)
    liver = charts.liver_chart(timeline)
    context = {
        "subject": subject,
        "timeline": timeline,
        "safety": selectors.safety_state(subject),
        "dosing": review.dosing_now(subject, timeline.history),
        "regimen": selectors.regimen_text(timeline.assessment),
        "liver_chart": charts.figure_json(liver) if timeline.draws or timeline.doses else None,
        "analytes": DRAW_ANALYTES,
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
    safety = selectors.safety_state(subject)
    return render(
        request, "monitoring/_evaluation_status.html", {"subject": subject, "safety": safety}
    )


@login_required
def subject_history(request, pk):
    subject = access.subject_for(request.user, pk)
    page = Paginator(selectors.subject_history(subject), 100).get_page(request.GET.get("page"))
    return render(request, "monitoring/subject_history.html", {"subject": subject, "page": page})


# ---- entry --------------------------------------------------------------------------------


@login_required
def draw_new(request, pk):
    access.require(access.can_enter_data(request.user), ONLY_COORDINATORS_LABS)
    subject = access.subject_for(request.user, pk)
    form = DrawForm(request.POST or None, subject=subject)
    if request.method == "POST" and form.is_valid():
        try:
            draw = services.record_draw(
                subject,
                form.cleaned_data["collected_at"],
                form.result_entries(),
                resulted_at=form.cleaned_data["resulted_at"],
                symptoms=form.cleaned_data["symptoms"],
                lab_name=form.cleaned_data["lab_name"],
                user=request.user,
            )
        except services.EntryError as error:
            add_entry_error(form, error)
        else:
            messages.success(
                request,
                f"Draw of {rules.when(draw.collected_at)} saved. The rules are evaluating it; "
                "any alert it raises appears below.",
            )
            return redirect("subject", pk=subject.pk)
    return render(request, "monitoring/draw_form.html", {"subject": subject, "form": form})


@login_required
def draw_detail(request, pk):
    draw = get_object_or_404(
        LabDraw.objects.filter(subject__in=access.visible_subjects(request.user)).select_related(
            "subject__site", "entered_by"
        ),
        pk=pk,
    )
    results = []
    for r in draw.results.all():
        uln = r.exact_uln()
        multiple = r.exact_value() / uln if uln else None
        results.append((r, multiple, ctcae.grade(r.analyte, multiple)))
    return render(
        request,
        "monitoring/draw_detail.html",
        {
            "draw": draw,
            "subject": draw.subject,
            "results": results,
            "alerts": draw.alerts.all(),
            "can_correct": access.can_enter_data(request.user),
        },
    )


@login_required
def result_correct(request, pk):
    access.require(access.can_enter_data(request.user), ONLY_COORDINATORS_LABS)
    result = get_object_or_404(
        LabResult.objects.filter(
            draw__subject__in=access.visible_subjects(request.user)
        ).select_related("draw__subject"),
        pk=pk,
    )
    form = CorrectionForm(request.POST or None, result=result)
    if request.method == "POST" and form.is_valid():
        try:
            services.correct_result(
                result,
                value=form.cleaned_data["value"],
                unit=form.cleaned_data["unit"],
                reported_uln=form.cleaned_data["reported_uln"],
                reason=form.cleaned_data["reason"],
                user=request.user,
            )
        except services.EntryError as error:
            add_entry_error(form, error)
        else:
            messages.success(
                request, f"{result.analyte} corrected. The subject is being re-evaluated."
            )
            return redirect("subject", pk=result.draw.subject_id)
    return render(
        request,
        "monitoring/correction_form.html",
        {"result": result, "draw": result.draw, "subject": result.draw.subject, "form": form},
    )


@login_required
def dose_new(request, pk):
    """Record a dose that was given. One that breaks a rule at its own time is described (the
    rule, and the draw or decision behind it) and recorded once the coordinator confirms it was
    given; the engine then raises R9 or R11."""
    access.require(access.can_enter_data(request.user), ONLY_COORDINATORS_DOSES)
    subject = access.subject_for(request.user, pk)
    dosing = review.dosing_now(subject)
    regimen = dosing.regimen
    initial = {}
    if regimen is not None and regimen.dose_mg is not None:
        initial["dose_mg"] = units.format_number(regimen.dose_mg)
    form = DoseForm(
        request.POST or None,
        subject=subject,
        initial=initial,
        regimen_text=regimen.describe() if regimen else "",
    )
    judgement = None
    if request.method == "POST" and form.is_valid():
        try:
            dose = review.record_judged_dose(
                subject,
                form.cleaned_data["administered_at"],
                form.cleaned_data["dose_mg"],
                user=request.user,
                confirmed=form.cleaned_data["confirm_given"],
            )
        except review.DoseNeedsConfirmation as error:
            judgement = error.judgement
            form.add_error("confirm_given", error.message)
        else:
            if dose.given_despite:
                messages.warning(
                    request, f"Dose of {dose} recorded. {dose.given_despite} Reviewers are alerted."
                )
            else:
                messages.success(request, f"Dose of {dose} saved.")
            return redirect("subject", pk=subject.pk)
    return render(
        request,
        "monitoring/dose_form.html",
        {"subject": subject, "form": form, "dosing": dosing, "judgement": judgement},
    )


# ---- alerts -------------------------------------------------------------------------------


@login_required
def alert_list(request):
    """Open cases, one row each with their alerts inside; then the other alerts."""
    alerts = AlertFilter(request.GET, queryset=selectors.alert_queue(request.user), request=request)
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
            "cases": selectors.cases(alerts.qs),
            "table": table,
            "export_query": _query_without(request, "export"),
            "can_acknowledge": access.can_decide(request.user),
        },
    )


@login_required
@require_POST
def alerts_acknowledge(request):
    access.require(access.can_decide(request.user), ONLY_REVIEWERS)
    pks = [int(pk) for pk in request.POST.getlist("alerts") if pk.isdigit()]
    visible = selectors.alert_queue(request.user).filter(pk__in=pks)
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
    alert = selectors.alert_for(request.user, pk)
    subject = alert.subject
    answers = review.answerable_alerts(alert)
    can_decide = access.can_decide(request.user)
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
            amendable=selectors.amendable_decisions(subject),
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
        except review.DecisionError as error:
            add_entry_error(form, error)
        else:
            messages.success(
                request,
                f"Decision signed for {subject}: {decision.get_action_display()}"
                f" ({len(answers)} alert{'s' if len(answers) != 1 else ''} answered).",
            )
            following = selectors.next_case(request.user, after=alert)
            if following is not None:
                return redirect("alert", pk=following.pk)
            return redirect("alerts")
    timeline = selectors.subject_timeline(subject, with_alerts=False)
    focus = alert.triggered_at
    chart = charts.liver_chart(timeline, focus=focus) if timeline.draws else None
    trigger = next((row for row in timeline.draws if row.draw.pk == alert.draw_id), None)
    case = selectors.case_of(alert)
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
            "dosing": review.dosing_now(subject, timeline.history),
            "regimen": selectors.regimen_text(timeline.assessment),
        },
    )


# ---- reference ----------------------------------------------------------------------------


@login_required
def rules_page(request):
    analytes = [
        {
            "spec": spec,
            "units": [
                (units.unit_label(u), _factor(f))
                for u, f in spec.units.items()
                if u != spec.canonical_unit
            ],
            "default_uln": {sex: units.format_number(v) for sex, v in spec.default_uln.items()},
        }
        for spec in units.ANALYTES.values()
    ]
    grades = [(a, ctcae.describe_bounds(a)) for a in ("ALT", "AST", "TBIL")]
    return render(
        request,
        "monitoring/rules.html",
        {
            "rule_set": rules.DEFAULT_RULE_SET,
            "rules": rules.DEFAULT_RULE_SET.rules,
            "version": rules.DEFAULT_RULE_SET.label,
            "analytes": analytes,
            "grades": grades,
            "states": Alert._meta.get_field("status").choices,
        },
    )


def _factor(factor):
    """'× 60' or '÷ 17.1': how a unit converts to the canonical one."""
    if factor >= 1:
        return f"× {units.format_number(factor)}"
    return f"÷ {units.format_number(1 / factor)}"


def _query_without(request, *names):
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()
