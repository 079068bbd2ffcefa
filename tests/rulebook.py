"""Small builders for rule tests: a history reads like the clinical story it tells."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from monitoring import rules, units

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
STANDARD = rules.Regimen("standard", "200 mg once weekly", Decimal(200), 1)
REDUCED = rules.Regimen("reduced", "70 mg three times weekly", Decimal(70), 3)


def day(n, hours=0, seconds=0):
    return T0 + timedelta(days=n, hours=hours, seconds=seconds)


def result(analyte, value, unit=None, uln=None, sex="M"):
    """A result as the rules see it; ULN reported in the same unit, else the adult default."""
    unit = unit or units.ANALYTES[analyte].canonical_unit
    resolved = units.resolve_uln(
        analyte, unit, Decimal(str(uln)) if uln else None, sex, None, T0.date()
    )
    return rules.Result(
        analyte=analyte,
        value=units.to_canonical(analyte, Decimal(str(value)), unit),
        uln=resolved.value if resolved else None,
        entered_value=Decimal(str(value)),
        entered_unit=unit,
    )


def draw(
    at,
    *,
    alt=None,
    ast=None,
    alp=None,
    tbil=None,
    symptoms=False,
    key=None,
    resulted_at=None,
    **extra,
):
    """A draw; ALT/AST/ALP/TBIL given as multiples of the male default ULN (41/40/129/1.2).
    Its results are known at collection unless `resulted_at` says later."""
    results = []
    for analyte, multiple, uln in (
        ("ALT", alt, 41),
        ("AST", ast, 40),
        ("ALP", alp, 129),
        ("TBIL", tbil, Fraction(6, 5)),
    ):
        if multiple is not None:
            value = Fraction(multiple) * uln
            results.append(rules.Result(analyte, value, Fraction(uln)))
    results += list(extra.get("results", ()))
    return rules.Draw(
        key=key or at.isoformat(),
        collected_at=at,
        results=tuple(results),
        symptoms=symptoms,
        resulted_at=resulted_at,
    )


def baseline(at):
    return draw(at, alt="0.5", ast="0.5", alp="0.5", tbil="0.5")


def dose(at, mg=200):
    return rules.Dose(key=f"dose {at.isoformat()}", administered_at=at, dose_mg=Decimal(mg))


def decision(at, action, regimen=None, key=None, replaces=None):
    """A signed decision; a resume_reduced_dose re-starts on `regimen` (REDUCED by default)."""
    if action == "resume_reduced_dose" and regimen is None:
        regimen = REDUCED
    return rules.Decision(
        key=key or f"{action} {at.isoformat()}",
        action=action,
        signed_at=at,
        regimen=regimen,
        replaces=replaces,
        reviewer="Rita Reviewer",
    )


def history(draws=(), doses=(), decisions=(), **kwargs):
    kwargs.setdefault("start_regimen", STANDARD)
    return rules.History(
        draws=tuple(draws), doses=tuple(doses), decisions=tuple(decisions), **kwargs
    )


def kinds(assessment, kind=None):
    found = [(f.kind, f.triggered_at) for f in assessment.findings]
    if kind:
        return [at for k, at in found if k == kind]
    return found


def evaluate(draws=(), doses=(), as_of=None, decisions=(), **kwargs):
    return rules.evaluate(history(draws, doses, decisions, **kwargs), as_of or day(1))
