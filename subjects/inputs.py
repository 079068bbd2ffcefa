"""What every form and import accepts (issue 12): the plausibility limits as data, one strict
decimal parser, one check of date-times and dates, strict booleans, and reasons that hold
visible text. Pure Python; each check returns the value or raises ValueError with the reason in
words, which a form shows on its field and an import as `FILE:LINE: field: reason`.

It lives in `subjects`, the lower layer, so that the dose form (here) and the lab forms and
imports (monitoring) use the same table and parsers.

The limits are what a laboratory or a pharmacy could report, and they are chosen so that
every value inside them fits every column it is stored in: a lab value (24 digits, 12 of them
decimals) in any unit hepwatch converts, its canonical value, its ULN and its ×ULN (18 digits,
6 decimals: at most 100000 / 1 for ALT, at least 0.1 / 1000). tests/test_limits.py holds the
table to that.
"""

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache

# ---- plausibility limits ----------------------------------------------------------------


@dataclass(frozen=True)
class Limit:
    """low ≤ value ≤ high in `unit`; a value of 0 is allowed only when low is 0."""

    low: Decimal
    high: Decimal
    unit: str

    def refusal(self, value, shown=None) -> str | None:
        """Why `value` (in `unit`) is implausible, or None. `shown` is how the value was
        entered, e.g. "2000 µkat/L", when that is not in `unit`."""
        # Decimals compare exactly with Decimals and Fractions alike; the message is worded
        # only for a value refused (a central lab's file has 100,000 that are not).
        if self.low <= value <= self.high:
            return None
        shown = shown or f"{plain_number(value)} {self.unit}"
        if value < self.low:
            return f"{shown} is below {plain_number(self.low)} {self.unit}, the lowest accepted"
        if value > self.high:
            return f"{shown} is above {plain_number(self.high)} {self.unit}, the highest accepted"
        return None

    @property
    def zero_allowed(self) -> bool:
        return self.low == 0


def plain_number(number) -> str:
    """A number without trailing zeros: 135, 2.25, 0.68."""
    if isinstance(number, Fraction):
        number = Decimal(number.numerator) / Decimal(number.denominator)
    return f"{Decimal(number).normalize():f}"


def limit(low, high, unit) -> Limit:
    return Limit(Decimal(low), Decimal(high), unit)


@dataclass(frozen=True)
class LabLimits:
    """An analyte's limits in its canonical unit: the value, and the ULN (None: no ULN)."""

    value: Limit
    uln: Limit | None


# Per analyte, in the canonical unit (monitoring/units.py converts other units to it).
# INR and EOS are the analytes rules section 3b adds (FDA's limits are absolute: no ULN for
# INR). Lab values are positive numbers, so no eosinophil count of 0 % is entered: 0.1 % is
# the smallest a differential count reports.
LAB_LIMITS = {
    "ALT": LabLimits(limit("0.1", 100000, "U/L"), limit(1, 1000, "U/L")),
    "AST": LabLimits(limit("0.1", 100000, "U/L"), limit(1, 1000, "U/L")),
    "ALP": LabLimits(limit("0.1", 100000, "U/L"), limit(1, 1000, "U/L")),
    "TBIL": LabLimits(limit("0.01", 100, "mg/dL"), limit("0.1", 20, "mg/dL")),
    "LDLC": LabLimits(limit("0.1", 2000, "mg/dL"), limit(10, 1000, "mg/dL")),
    "APOB": LabLimits(limit("0.1", 1000, "mg/dL"), limit(10, 1000, "mg/dL")),
    "INR": LabLimits(limit("0.1", 20, "{INR}"), None),
    "EOS": LabLimits(limit("0.1", 100, "%"), limit(1, 100, "%")),
}

# 0 mg is a placebo's administration (a CDISC EX of a placebo arm holds them).
DOSE_MG = limit(0, 10000, "mg")

# Decimals each kind of number is stored with (LabResult.value and reported_uln: 12;
# Dose.dose_mg: 2). A number that rounds to 0 at them is refused, never stored as 0.
LAB_PLACES = 12
DOSE_PLACES = 2


# ---- numbers ----------------------------------------------------------------------------

# ASCII digits only, one point at most, no sign, no exponent, no separators.
PLAIN_DECIMAL = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
MAX_INTEGER_DIGITS = 15
MAX_CHARACTERS = 120


# A file's numbers repeat (doses of 200 mg, a few hundred lab values): each text parsed once.
@lru_cache(maxsize=8192)
def parse_decimal(text: str, *, places: int, zero: bool = False) -> Decimal:
    """A plain decimal number ("135", "0.68", ".5"), rounded to `places` decimals.

    Refused: a sign, an exponent ("1e-5"), separators ("1_000", "12,5"), other digits than
    ASCII ("１２", "٣٠"), NaN and infinities, 0 unless `zero`, and a number other than 0 that
    rounds to 0 at `places` (it would be stored as 0).
    """
    kind = "a number ≥ 0" if zero else "a positive number"
    stripped = text.strip()
    if len(stripped) > MAX_CHARACTERS:
        raise ValueError(f"{stripped[:20]!r}... is not {kind} (it is too long)")
    if not PLAIN_DECIMAL.fullmatch(stripped):
        raise ValueError(f"{stripped!r} is not {kind}{_hint(stripped)}")
    if len(stripped.split(".")[0].lstrip("0")) > MAX_INTEGER_DIGITS:
        raise ValueError(f"{stripped!r} is too large")
    return round_to(Decimal(stripped), places, zero=zero, shown=repr(stripped))


def round_to(number: Decimal, places: int, *, zero: bool = False, shown=None) -> Decimal:
    """`number` rounded to `places` decimals; ValueError for 0 unless `zero`, and for a number
    other than 0 that rounds to 0 (it would be stored as 0)."""
    shown = shown or f"{number.normalize():f}"
    if number == 0:
        if not zero:
            raise ValueError(f"{shown} is not a positive number")
        return Decimal(0)
    rounded = number.quantize(Decimal(1).scaleb(-places))
    if rounded == 0:
        raise ValueError(f"{shown} rounds to 0 at the {places} decimals it is stored with")
    return rounded.normalize()


def _hint(text: str) -> str:
    if re.fullmatch(r"[0-9.]+[eE][+-]?[0-9]+", text):
        return " (write it out in digits, without an exponent)"
    if "_" in text:
        return " (write it without underscores)"
    if any(c.isdigit() and not c.isascii() for c in text):
        return " (use the digits 0-9)"
    if re.fullmatch(r"[0-9]+,[0-9]+", text):
        return " (use a point for the decimals)"
    if text.startswith("-"):
        return " (it is negative)"
    return ""


def check_dose(mg: Decimal) -> Decimal:
    refusal = DOSE_MG.refusal(mg)
    if refusal:
        raise ValueError(refusal)
    return mg


def parse_dose(text: str) -> Decimal:
    """A dose in mg, to the cent, within DOSE_MG."""
    return check_dose(parse_decimal(text, places=DOSE_PLACES, zero=True))


# ---- date-times and dates ---------------------------------------------------------------

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
# The UTC offsets in use anywhere: from UTC−12:00 to UTC+14:00.
OFFSETS = (timedelta(hours=-12), timedelta(hours=14))


def check_moment(moment: datetime, *, future: bool = False) -> datetime:
    """An aware date-time as UTC: its offset in use somewhere, not before 1900 and, unless
    `future`, not later than now."""
    offset = moment.utcoffset()
    if offset is None:
        moment, offset = moment.replace(tzinfo=UTC), timedelta(0)
    if not OFFSETS[0] <= offset <= OFFSETS[1]:
        raise ValueError(f"{moment.isoformat()} has an offset outside UTC-12:00..UTC+14:00")
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{moment.isoformat()} is outside the years 1900 to now") from None
    if utc < EARLIEST:
        raise ValueError(f"{moment.isoformat()} is before 1900")
    if not future and utc > datetime.now(UTC):
        raise ValueError(f"{moment.isoformat()} is later than now")
    return utc


def parse_datetime(text: str, *, future: bool = False) -> datetime:
    """ISO 8601 date-time, with or without offset (UTC when none; a bare date is 00:00 UTC),
    checked by check_moment; returned in UTC."""
    stripped = text.strip()
    try:
        moment = datetime.fromisoformat(stripped)
    except ValueError:
        raise ValueError(f"{stripped!r} is not an ISO 8601 date-time") from None
    return check_moment(moment, future=future)


def check_date(day: date) -> date:
    """A calendar date from 1900 to today (UTC)."""
    if day < EARLIEST.date():
        raise ValueError(f"{day.isoformat()} is before 1900")
    if day > datetime.now(UTC).date():
        raise ValueError(f"{day.isoformat()} is later than today")
    return day


def parse_date(text: str) -> date:
    stripped = text.strip()
    try:
        day = date.fromisoformat(stripped)
    except ValueError:
        raise ValueError(f"{stripped!r} is not an ISO 8601 date (YYYY-MM-DD)") from None
    return check_date(day)


def check_birth_date(birth_date: date, enrolled_on: date) -> None:
    if birth_date > enrolled_on:
        raise ValueError(
            f"{birth_date.isoformat()} is after the enrolment date ({enrolled_on.isoformat()})"
        )


# ---- booleans and reasons -----------------------------------------------------------------


def parse_bool(text: str, *, true=("true",), false=("false",)) -> bool | None:
    """True or False from one of the spellings given (any case), None for an empty cell."""
    value = text.strip().lower()
    if not value:
        return None
    if value in true:
        return True
    if value in false:
        return False
    raise ValueError(f"{text.strip()!r} is not {' or '.join((*true[:1], *false[:1]))}")


def visible_text(text: str, what: str = "the reason") -> str:
    """The text without its outer spaces; ValueError when it holds no visible character
    (empty, spaces, or only invisible ones such as zero-width spaces)."""
    stripped = (text or "").strip()
    if not stripped:
        raise ValueError(f"{what} is empty")
    if not any(unicodedata.category(c)[0] in "LNPS" for c in stripped):
        raise ValueError(f"{what} has no visible text, only invisible characters")
    return stripped
