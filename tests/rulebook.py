"""Small builders for rule tests: a history reads like the clinical story it tells."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from monitoring import rules, units

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


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


def draw(at, *, alt=None, ast=None, alp=None, tbil=None, symptoms=False, key=None, **extra):
    """A draw; ALT/AST/ALP/TBIL given as multiples of the male default ULN (41/40/129/1.2)."""
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
        key=key or at.isoformat(), collected_at=at, results=tuple(results), symptoms=symptoms
    )


def baseline(at):
    return draw(at, alt="0.5", ast="0.5", alp="0.5", tbil="0.5")


def dose(at, mg=200):
    return rules.Dose(key=f"dose {at.isoformat()}", administered_at=at, dose_mg=Decimal(mg))


def history(draws=(), doses=(), **kwargs):
    return rules.History(draws=tuple(draws), doses=tuple(doses), **kwargs)


def kinds(assessment, kind=None):
    found = [(f.kind, f.triggered_at) for f in assessment.findings]
    if kind:
        return [at for k, at in found if k == kind]
    return found


def evaluate(draws=(), doses=(), as_of=None, **kwargs):
    return rules.evaluate(history(draws, doses, **kwargs), as_of or day(1))
