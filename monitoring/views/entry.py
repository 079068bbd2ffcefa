"""Entering data: a whole lab draw, a correction of a saved value, a dose."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render

from monitoring import rules, units
from monitoring.forms.entry import CorrectionForm, DrawForm, add_entry_error
from monitoring.models import LabDraw, LabResult
from monitoring.selectors import data_queries
from monitoring.services import dosing, errors, lab_entry
from subjects import access
from subjects.forms import DoseForm


@login_required
def draw_new(request, pk):
    access.require(access.can_enter_data(request.user), access.ONLY_COORDINATORS_LABS)
    subject = access.subject_for(request.user, pk)
    form = DrawForm(request.POST or None, subject=subject)
    if request.method == "POST" and form.is_valid():
        try:
            draw = lab_entry.record_draw(
                subject,
                form.cleaned_data["collected_at"],
                form.result_entries(),
                resulted_at=form.cleaned_data["resulted_at"],
                symptoms=form.cleaned_data["symptoms"],
                lab_name=form.cleaned_data["lab_name"],
                user=request.user,
            )
        except errors.EntryError as error:
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
    queries = list(
        data_queries.subject_queries(draw.subject).filter(Q(draw=draw) | Q(result__draw=draw))
    )
    queried = data_queries.by_row(queries)
    results = [
        (r, r.exact_multiple(), r.ctcae_grade(), queried.get(("result", r.pk)))
        for r in draw.results.all()
    ]
    return render(
        request,
        "monitoring/draw_detail.html",
        {
            "draw": draw,
            "subject": draw.subject,
            "results": results,
            "alerts": draw.alerts.all(),
            "can_correct": access.can_enter_data(request.user),
            "can_query": access.can_raise_queries(request.user),
            "queries": queries,
        },
    )


@login_required
def result_correct(request, pk):
    access.require(access.can_enter_data(request.user), access.ONLY_COORDINATORS_LABS)
    result = get_object_or_404(
        LabResult.objects.filter(
            draw__subject__in=access.visible_subjects(request.user)
        ).select_related("draw__subject__site"),
        pk=pk,
    )
    form = CorrectionForm(request.POST or None, result=result)
    if request.method == "POST" and form.is_valid():
        try:
            lab_entry.correct_result(
                result,
                value=form.cleaned_data["value"],
                unit=form.cleaned_data["unit"],
                reported_uln=form.cleaned_data["reported_uln"],
                reason=form.cleaned_data["reason"],
                user=request.user,
            )
        except errors.EntryError as error:
            add_entry_error(form, error)
        else:
            messages.success(
                request, f"{result.analyte} corrected. The subject is being re-evaluated."
            )
            return redirect("subject", pk=result.draw.subject_id)
    open_queries = data_queries.subject_queries(result.draw.subject).filter(
        Q(result=result) | Q(draw=result.draw), status="open"
    )
    return render(
        request,
        "monitoring/correction_form.html",
        {
            "result": result,
            "draw": result.draw,
            "subject": result.draw.subject,
            "form": form,
            "open_queries": open_queries,
        },
    )


@login_required
def dose_new(request, pk):
    """Record a dose that was given. One that breaks a rule at its own time is described (the
    rule, and the draw or decision behind it) and recorded once the coordinator confirms it was
    given; the engine then raises R9 or R11."""
    access.require(access.can_enter_data(request.user), access.ONLY_COORDINATORS_DOSES)
    subject = access.subject_for(request.user, pk)
    dosing_now = dosing.dosing_now(subject)
    sees_arm = access.sees_arm_of(request.user, subject)
    regimen = dosing_now.regimen if sees_arm else None
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
            dose = dosing.record_judged_dose(
                subject,
                form.cleaned_data["administered_at"],
                form.cleaned_data["dose_mg"],
                user=request.user,
                confirmed=form.cleaned_data["confirm_given"],
            )
        except dosing.DoseNeedsConfirmation as error:
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
        {
            "subject": subject,
            "form": form,
            "dosing": dosing_now,
            "judgement": judgement,
            "sees_arm": sees_arm,
        },
    )
