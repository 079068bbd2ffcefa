"""Analytes, their canonical units and LOINC codes, unit conversion and ULN resolution.

Pure functions; arithmetic is exact (fractions), so a value at exactly 3x ULN stays 3x whatever
unit it came in.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

from subjects.inputs import LAB_LIMITS


@dataclass(frozen=True)
class Analyte:
    code: str
    name: str
    canonical_unit: str
    loinc: tuple[str, ...]
    # unit -> factor that multiplies a value in that unit to give the canonical unit
    units: dict
    # sex -> default adult ULN in the canonical unit; empty when the analyte has no ULN
    default_uln: dict


ANALYTES = {
    a.code: a
    for a in (
        Analyte(
            "ALT",
            "Alanine aminotransferase",
            "U/L",
            ("1742-6",),
            {"U/L": Fraction(1), "ukat/L": Fraction(60)},
            {"M": Fraction(41), "F": Fraction(33)},
        ),
        Analyte(
            "AST",
            "Aspartate aminotransferase",
            "U/L",
            ("1920-8",),
            {"U/L": Fraction(1), "ukat/L": Fraction(60)},
            {"M": Fraction(40), "F": Fraction(32)},
        ),
        Analyte(
            "ALP",
            "Alkaline phosphatase",
            "U/L",
            ("6768-6",),
            {"U/L": Fraction(1), "ukat/L": Fraction(60)},
            {"M": Fraction(129), "F": Fraction(104)},
        ),
        Analyte(
            "TBIL",
            "Total bilirubin",
            "mg/dL",
            ("1975-2",),
            {"mg/dL": Fraction(1), "umol/L": 1 / Fraction("17.1")},
            {"M": Fraction("1.2"), "F": Fraction("1.2")},
        ),
        Analyte(
            "LDLC",
            "LDL cholesterol",
            "mg/dL",
            ("13457-7", "18262-6"),
            {"mg/dL": Fraction(1), "mmol/L": Fraction("38.67")},
            {},
        ),
        Analyte(
            "APOB",
            "Apolipoprotein B",
            "mg/dL",
            ("1884-6",),
            {"mg/dL": Fraction(1), "g/L": Fraction(100)},
            {},
        ),
        # FDA's DILI guidance (rule set fda_dili_2009) judges these by absolute limits.
        Analyte(
            "INR",
            "Prothrombin time INR",
            "{INR}",
            ("6301-6",),
            {"{INR}": Fraction(1)},
            {},
        ),
        Analyte(
            "EOS",
            "Eosinophils per 100 leukocytes",
            "%",
            ("713-8",),
            {"%": Fraction(1)},
            {},
        ),
    )
}

# Liver tests a baseline draw must hold (rule R1); transaminases that make a draw's peak.
BASELINE_ANALYTES = ("ALT", "AST", "ALP", "TBIL")
PEAK_ANALYTES = ("ALT", "AST")

# Accepted spellings of units -> the unit key used above.
UNIT_ALIASES = {
    "u/l": "U/L",
    "iu/l": "U/L",
    "ukat/l": "ukat/L",
    "µkat/l": "ukat/L",
    "μkat/l": "ukat/L",
    "mg/dl": "mg/dL",
    "umol/l": "umol/L",
    "µmol/l": "umol/L",
    "μmol/l": "umol/L",
    "mmol/l": "mmol/L",
    "g/l": "g/L",
    "{inr}": "{INR}",
    "inr": "{INR}",
    "ratio": "{INR}",
    "%": "%",
}

UNIT_LABELS = {"ukat/L": "µkat/L", "umol/L": "µmol/L"}


class UnitError(ValueError):
    pass


def unit_label(unit: str) -> str:
    """How a unit is shown to people."""
    return UNIT_LABELS.get(unit, unit)


def normalise_unit(analyte: str, unit: str) -> str:
    """The unit key for a unit as typed, or UnitError saying which units fit the test."""
    spec = ANALYTES[analyte]
    key = UNIT_ALIASES.get(unit.strip().lower(), unit.strip())
    if key not in spec.units:
        allowed = ", ".join(spec.units)
        raise UnitError(f"unit {unit!r} does not fit {analyte} (use {allowed})")
    return key


class LimitError(ValueError):
    """A value or ULN outside the analyte's plausibility limits; `field` is "value" or "uln"."""

    def __init__(self, field, message):
        super().__init__(message)
        self.field, self.message = field, message


def check_plausible(analyte: str, value, unit: str, reported_uln=None) -> None:
    """LimitError when the value or the reported ULN (both in `unit`) is outside the limits of
    subjects/inputs.py, which are in the canonical unit; the message names both units."""
    refused = _implausible(analyte, value, unit, reported_uln)
    if refused is not None:
        raise LimitError(*refused)


# A central lab's file repeats a few hundred values against a few ULNs: each checked once.
@lru_cache(maxsize=8192)
def _implausible(analyte, value, unit, reported_uln):
    """(field, message) of check_plausible's refusal, or None."""
    spec, limits = ANALYTES[analyte], LAB_LIMITS[analyte]
    unit = normalise_unit(analyte, unit)
    for field, number, limit, what in (
        ("value", value, limits.value, analyte),
        ("uln", reported_uln, limits.uln, f"{analyte} ULN"),
    ):
        if number is None:
            continue
        if limit is None:
            return field, f"{analyte} has no ULN"
        canonical = to_canonical(analyte, number, unit)
        shown = f"{what} {format_number(number)} {unit_label(unit)}"
        if unit != spec.canonical_unit:
            shown += f" ({format_number(canonical)} {spec.canonical_unit})"
        refusal = limit.refusal(canonical, shown)
        if refusal:
            return field, refusal
    return None


def to_canonical(analyte: str, value, unit: str) -> Fraction:
    """The exact value in the analyte's canonical unit."""
    spec = ANALYTES[analyte]
    unit = normalise_unit(analyte, unit)
    if unit == spec.canonical_unit:
        return Fraction(value)
    return Fraction(value) * spec.units[unit]


def exact_uln(analyte: str, unit: str, reported_uln, stored_uln) -> Fraction | None:
    """A stored result's ULN exactly: the reported one converted, else the stored canonical one
    (a reference range or default, already canonical)."""
    if reported_uln is not None:
        return to_canonical(analyte, reported_uln, unit)
    if stored_uln is None:
        return None
    return Fraction(stored_uln)


def age_on(birth_date: date, day: date) -> int:
    years = day.year - birth_date.year
    if (day.month, day.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


@dataclass(frozen=True)
class RangeSpec:
    """A reference range as plain data: ULN in `unit`, for a sex (M/F/"") and an age band."""

    analyte: str
    sex: str
    age_min: int | None
    age_max: int | None
    uln: Decimal
    unit: str
    valid_from: date


@dataclass(frozen=True)
class ResolvedUln:
    value: Fraction  # in the canonical unit
    source: str  # "reported", "reference" or "default"


def resolve_uln(
    analyte: str,
    unit: str,
    reported_uln,
    sex: str,
    birth_date: date | None,
    collected_on: date,
    ranges=(),
) -> ResolvedUln | None:
    """The ULN of a result: reported with it, else the reference range, else the adult default.

    None for analytes with no ULN (lipids) when nothing was reported.
    """
    if reported_uln is not None:
        return ResolvedUln(to_canonical(analyte, reported_uln, unit), "reported")
    age = age_on(birth_date, collected_on) if birth_date else None
    matching = [
        r
        for r in ranges
        if r.analyte == analyte
        and r.sex in (sex, "")
        and r.valid_from <= collected_on
        and (r.age_min is None or (age is not None and age >= r.age_min))
        and (r.age_max is None or (age is not None and age <= r.age_max))
    ]
    if matching:
        # The most specific (sex-specific before "any"), then the most recent.
        best = max(matching, key=lambda r: (r.sex == sex, r.valid_from))
        return ResolvedUln(to_canonical(analyte, best.uln, best.unit), "reference")
    default = ANALYTES[analyte].default_uln.get(sex)
    if default is None:
        return None
    return ResolvedUln(default, "default")


class Measurement(NamedTuple):
    """What is stored of a result beside what was entered: the value in the canonical unit, the
    ULN and ×ULN, rounded for storage and display (the rules work from the exact values)."""

    unit: str
    value_canonical: Decimal
    uln: Decimal | None
    uln_source: str
    uln_multiple: Decimal | None


def measure(
    analyte: str,
    value,
    unit: str,
    reported_uln,
    sex: str,
    birth_date: date | None,
    collected_on: date,
    ranges=(),
) -> Measurement:
    """A result's canonical value, resolved ULN and ×ULN, from what was entered."""
    unit = normalise_unit(analyte, unit)
    exact = to_canonical(analyte, value, unit)
    resolved = resolve_uln(analyte, unit, reported_uln, sex, birth_date, collected_on, ranges)
    if resolved is None:
        return Measurement(unit, as_decimal(exact, 12), None, "", None)
    return Measurement(
        unit,
        as_decimal(exact, 12),
        as_decimal(resolved.value, 12),
        resolved.source,
        as_decimal(exact / resolved.value, 6),
    )


def as_decimal(value: Fraction, places: int = 6) -> Decimal:
    """A Fraction rounded for storage and display (never for rule comparisons)."""
    q = Decimal(1).scaleb(-places)
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(q)


def format_multiple(multiple: Fraction) -> str:
    """×ULN truncated to 2 decimals, so the shown figure never crosses a threshold the exact
    value did not (2.999× shows as 2.99×, never 3.00×)."""
    numerator, denominator = multiple.as_integer_ratio()  # integers: no Fraction to normalise
    return f"{Decimal(numerator * 100 // denominator) / 100:.2f}×"


def format_number(value) -> str:
    """A value without trailing zeros: 135, 2.25, 0.68."""
    if isinstance(value, Fraction):
        value = as_decimal(value, 4)
    d = Decimal(value)
    text = f"{d.normalize():f}"
    return text
