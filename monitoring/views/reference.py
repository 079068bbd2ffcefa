"""The rules page: the rule table rendered from the engine's own definitions."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from monitoring import ctcae, rules, units
from monitoring.models import Alert
from monitoring.selectors.subject_pages import study_rule_set


@login_required
def rules_page(request):
    in_force = study_rule_set()
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
            "rule_set": in_force,
            "other_sets": [s for s in rules.RULE_SETS.values() if s is not in_force],
            "rules": in_force.rules,
            "version": in_force.label,
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
