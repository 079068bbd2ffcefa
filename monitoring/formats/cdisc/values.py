"""CDISC field parsers: each returns the value or raises ValueError with the reason."""

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from monitoring.formats import csv_import
from subjects import inputs

SAS_EPOCH = date(1960, 1, 1)

MONTHS = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()
ISO = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?")
SAS_DATE = re.compile(r"(\d{1,2})([A-Za-z]{3})(\d{4})(?::(\d{2}):(\d{2})(?::(\d{2}))?)?")
PARTIAL = re.compile(r"\d{4}(-\d{2})?(-\d{2}T\d{2})?")


def parse_dtc(text: str) -> datetime:
    """An ISO 8601 date or date-time (UTC when it has no offset; a date is 00:00 UTC), or SAS's
    DATE9./DATETIME. text (26DEC2013, 26DEC2013:10:30:00). A partial date is refused."""
    text = text.strip()
    if not text:
        raise ValueError("is empty")
    if ISO.fullmatch(text):
        return inputs.parse_datetime(text)
    sas = SAS_DATE.fullmatch(text)
    if sas and sas.group(2).upper() in MONTHS:
        day, month, year = int(sas.group(1)), MONTHS.index(sas.group(2).upper()) + 1, sas.group(3)
        clock = [int(g or 0) for g in sas.group(4, 5, 6)]
        try:
            moment = datetime(int(year), month, day, *clock, tzinfo=UTC)
        except ValueError:
            raise ValueError(f"{text!r} is not a date") from None
        return inputs.check_moment(moment)
    if PARTIAL.fullmatch(text):
        raise ValueError(f"{text!r} is a partial date; a full date is needed")
    raise ValueError(f"{text!r} is not an ISO 8601 date")


def parse_sas_date(text: str) -> datetime:
    """ADT: a date as above, or a SAS date number (days since 1960-01-01)."""
    number = sas_number(text)
    if number is None:
        return parse_dtc(text)
    return _after_sas_epoch(text, timedelta(days=int(number)))


def parse_sas_datetime(text: str) -> datetime:
    """ADTM: a date-time as above, or a SAS date-time number (seconds since 1960-01-01)."""
    number = sas_number(text)
    if number is None:
        return parse_dtc(text)
    return _after_sas_epoch(text, timedelta(seconds=float(number)))


def _after_sas_epoch(text, delta):
    """1960-01-01 + delta, checked like every other date-time."""
    try:
        moment = datetime(1960, 1, 1, tzinfo=UTC) + delta
    except OverflowError:
        raise ValueError(f"{text.strip()!r} is outside the years 1900 to now") from None
    return inputs.check_moment(moment)


SAS_NUMBER = re.compile(r"-?[0-9]{1,12}(\.[0-9]{1,12})?")


def sas_number(text):
    """A SAS date, time or date-time number (days or seconds, negative before 1960), else None."""
    text = text.strip()
    return Decimal(text) if SAS_NUMBER.fullmatch(text) else None


def parse_day(text: str) -> date:
    return parse_dtc(text).date()


def day_parser(variable):
    """SDTM --DTC variables are ISO 8601 text; ADaM --DT variables may be SAS date numbers."""
    if variable.endswith("DTC"):
        return parse_day
    return lambda text: parse_sas_date(text).date()


def parse_dose(text: str) -> Decimal:
    """EXDOSE in its unit (EXDOSU), a plain number ≥ 0."""
    return inputs.parse_decimal(text, places=inputs.LAB_PLACES, zero=True)


def parse_age(text: str) -> int:
    number = inputs.parse_decimal(text, places=2, zero=True)
    if number > 130:
        raise ValueError(f"{text!r} is not an age in years")
    return int(number)


def parse_sex(text: str) -> str:
    value = text.strip().upper()
    value = {"MALE": "M", "FEMALE": "F"}.get(value, value)
    if value not in ("M", "F"):
        raise ValueError(f"{text!r} is not M or F")
    return value


def maybe_number(text: str):
    """A positive number, or None when the cell is empty or not a number ("<5", "NEG")."""
    try:
        return csv_import.parse_number(text)
    except ValueError:
        return None
