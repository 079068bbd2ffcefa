"""The one loader: a subject's whole history, read as plain rows, as the rules see it."""

from functools import lru_cache

from django.conf import settings

from monitoring import rules, units
from monitoring.models import Decision, LabDraw, LabResult
from monitoring.people import name_columns, name_from
from subjects.models import Dose, Regimen, Subject

# The columns the rules need of a draw and of a result, in the order load_histories reads them.
DRAW_COLUMNS = ("pk", "subject_id", "collected_at", "resulted_at", "symptoms_of_liver_injury")
RESULT_COLUMNS = ("draw_id", "analyte", "value", "unit", "reported_uln", "uln")


def history_of(subject, *, draws=None, results=None) -> rules.History:
    """One subject's whole history for the rules. `draws` and `results`, rows of DRAW_COLUMNS
    and RESULT_COLUMNS, are the subject's, when the caller has read them (the subject page)."""
    return load_histories([subject.pk], draws=draws, results=results)[subject.pk]


@lru_cache(maxsize=8192)
def result_for_rules(analyte, value, unit, reported_uln, uln) -> rules.Result:
    """A stored result as the rules see it: exact canonical value and ULN.

    Kept for the next identical result (a Result is immutable): liver enzymes come as a few
    hundred distinct whole numbers against a few ULNs, and the exact arithmetic is most of the
    cost of loading a history.
    """
    return rules.Result(
        analyte=analyte,
        value=units.to_canonical(analyte, value, unit),
        uln=units.exact_uln(analyte, unit, reported_uln, uln),
        entered_value=value,
        entered_unit=unit,
    )


def load_histories(pks, *, draws=None, results=None) -> dict:
    """The histories of these subjects for the rules: draws with their results, doses, signed
    decisions, flags and regimens, read as plain rows (no model instances). The one loader;
    `draws` and `results` as history_of takes them."""
    draw_rows, result_rows = draws, results
    draws, results, doses, decisions = {}, {}, {}, {}
    if draw_rows is None:
        subject_draws = LabDraw.objects.filter(subject_id__in=pks).order_by()
        draw_rows = subject_draws.values_list(*DRAW_COLUMNS)
        # Of these draws by a subquery, not by a join on the subject: the planner then reads
        # them through the draw index instead of scanning every result of the study.
        result_rows = (
            LabResult.objects.filter(draw_id__in=subject_draws.values("pk"))
            .order_by()
            .values_list(*RESULT_COLUMNS)
        )
    for pk, subject_pk, collected_at, resulted_at, symptoms in draw_rows:
        draws.setdefault(subject_pk, []).append((pk, collected_at, resulted_at, symptoms))
        results[pk] = []
    for draw_id, *fields in result_rows:
        # A draw committed between the two reads (the embedded SQLite default reads without one
        # snapshot across statements) is left to the evaluation its own entry asks for.
        if draw_id in results:
            results[draw_id].append(result_for_rules(*fields))
    for pk, subject_pk, administered_at, dose_mg in (
        Dose.objects.filter(subject_id__in=pks)
        .order_by()
        .values_list("pk", "subject_id", "administered_at", "dose_mg")
    ):
        doses.setdefault(subject_pk, []).append(rules.Dose(pk, administered_at, dose_mg))
    subjects = list(
        Subject.objects.filter(pk__in=pks).values_list(
            "pk",
            "active_liver_disease",
            "study__maintenance_interval_days",
            "arm__regimen_id",
            "study__rule_set",
        )
    )
    regimens = regimens_for_rules(Regimen.objects.filter(study__subjects__pk__in=pks).distinct())
    for pk, subject_pk, action, signed_at, regimen_id, replaces_id, first, last, username in (
        Decision.objects.filter(subject_id__in=pks)
        .order_by()
        .values_list(
            "pk",
            "subject_id",
            "action",
            "signed_at",
            "regimen_id",
            "replaces_id",
            *name_columns("reviewer"),
        )
    ):
        decisions.setdefault(subject_pk, []).append(
            rules.Decision(
                pk,
                action,
                signed_at,
                regimens.get(regimen_id),
                replaces_id,
                name_from(first, last, username),
            )
        )
    return {
        pk: rules.History(
            draws=tuple(
                rules.Draw(key, collected_at, tuple(results[key]), symptoms, resulted_at)
                for key, collected_at, resulted_at, symptoms in draws.get(pk, ())
            ),
            doses=tuple(doses.get(pk, ())),
            decisions=tuple(decisions.get(pk, ())),
            active_liver_disease=liver,
            maintenance_days=interval or settings.HEPWATCH_MAINTENANCE_DAYS,
            start_regimen=regimens.get(regimen_id),
            rule_set=rule_set,
        )
        for pk, liver, interval, regimen_id, rule_set in subjects
    }


def regimens_for_rules(regimens) -> dict:
    """{pk: rules.Regimen} of these Regimen rows."""
    return {
        pk: rules.Regimen(code, name, dose_mg, per_week, key=pk)
        for pk, code, name, dose_mg, per_week in regimens.values_list(
            "pk", "code", "name", "dose_mg", "administrations_per_week"
        )
    }
