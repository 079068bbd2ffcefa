"""Sponsor data in CDISC formats: SDTM DM, EX, LB and ADaM ADSL, ADLB, as SAS XPORT v5 (.xpt)
or CSV. Each file's dataset is told by its variables, not its name.

Like the CSV import (monitoring/csv_import.py), each file is read and checked whole, then written
in one transaction through the same writers; a bad record stops its file with
`FILE:NUMBER: VARIABLE: reason` (NUMBER is the CSV line, or the XPORT record counted from 1) and
nothing of that file is written. Imports are idempotent on natural keys.

How the data maps, and the choices the standards leave open:

- Study: STUDYID (created when new, with the arms found in the data); without STUDYID, the
  default study. Subject ID: USUBJID, or SUBJID where USUBJID is only "STUDYID-SUBJID" (what
  hepwatch's own SDTM export writes), so a round trip keeps the IDs. EX and LB find a subject
  by either form.
- Birth date: BRTHDTC when it is a full date. Otherwise from AGE (in years) at the reference
  date (RFSTDTC, else RFICDTC, else DMDTC, else the enrolment date): the middle of the dates of
  birth that give that age on that day, so the age on any later day is never more than half a
  year off and is exact on the reference date. A partial BRTHDTC without AGE: mid-year
  (YYYY -> 1 July) or mid-month (YYYY-MM -> the 15th).
- Arms: ARMCD/ARM (DM; in ADSL, ARMCD/ARM when present, else TRT01A, else TRT01P), matched to
  the study's arms by code, then by name, without regard to case. A new arm takes its dose and
  frequency from its name when the name says them ("70 mg three times weekly"; "Placebo" is
  0 mg); what the name does not say comes from EX, as the most frequent dose and frequency of
  the arm's administrations ("Xanomeline High Dose" -> 81 mg, 7 a week). Less than weekly
  dosing (Q2W) has no whole number per week and stays 0.
- Screen failures: ARMCD SCRNFAIL, ARM "Screen Failure", ARMNRS "SCREEN FAILURE" or "NOT
  ASSIGNED", or no arm at all: imported with Subject.screen_failure set, on an arm of their own
  (0 mg, 0 a week). A subject with an arm but no RFSTDTC is "assigned, not treated", not a
  screen failure. Enrolment: RFSTDTC, else (not dosed) RFICDTC, DMDTC or RFPENDTC.
- EX: each record's EXSTDTC..EXENDTC (both days included) is expanded by EXDOSFRQ into
  administrations at EXSTDTC's time of day (00:00 UTC for a date); BID adds +12 h, TID +8/16 h,
  QID +6/12/18 h; "3 TIMES PER WEEK" gives days 1, 3 and 5 of each week from EXSTDTC. A record
  without EXENDTC is one administration at EXSTDTC: the rest of it is unknown and inventing
  doses would raise false dosing alerts. XPORT's 5.4e-79 for a placebo's 0 is 0 mg
  (monitoring/xpt.py). Two records giving one subject a dose at one time: merged when the dose
  is the same, an error naming both records when not.
- LB: LBORRES/LBORRESU/LBORNRHI when the result is numeric in a unit hepwatch converts (the
  value as the laboratory reported it, exact), else LBSTRESN/LBSTRESU/LBSTNRHI; LBDTC.
  ADLB: AVAL; the unit from AVALU, else from PARAM's last parentheses ("Bilirubin (umol/L)"),
  else LBSTRESU; ULN from A1HI, else ANRHI, else LBSTNRHI; ADTM, else ADT (with ATM), else
  LBDTC. Test codes: ALT, AST, ALP, BILI (or TBIL) -> TBIL, LDL (or LDLC) -> LDLC, APOB; every
  other test is skipped and counted. A date without a time is 00:00 UTC. A record repeating
  another (same subject, test, time, value and ULN: an "End of Treatment" copy, or a visit
  counted twice) is merged; two different values for one test at one time are an error naming
  both records.
- What every import accepts (subjects/inputs.py): values, ULNs and doses within the
  plausibility limits, plain decimals, date-times from 1900 to now, a birth date on or before
  enrolment; a subject twice in DM or ADSL names both records; a file that would change stored
  values needs a reason, kept in the audit history.
"""

import csv
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import transaction

from monitoring import units
from monitoring.formats import csv_import, dm_countries, xpt
from monitoring.formats.csv_import import BadRow
from subjects import inputs
from subjects.models import Arm, Regimen, Study, Subject

DM, ADSL, EX, LB, ADLB = "DM", "ADSL", "EX", "LB", "ADLB"
ORDER = {DM: 0, ADSL: 0, EX: 1, LB: 2, ADLB: 2}

SCREEN_FAILURE_CODE, SCREEN_FAILURE_NAME = "SCRNFAIL", "Screen Failure"
NOT_RANDOMISED = {"SCREEN FAILURE", "NOT ASSIGNED"}

TESTS = {
    "ALT": "ALT",
    "AST": "AST",
    "ALP": "ALP",
    "BILI": "TBIL",
    "TBIL": "TBIL",
    "LDL": "LDLC",
    "LDLC": "LDLC",
    "APOB": "APOB",
    "INR": "INR",
    "EOS": "EOS",
}

MAX_INTERVAL = timedelta(days=3660)
SAS_EPOCH = date(1960, 1, 1)


# ---- datasets -----------------------------------------------------------------------------


@dataclass
class Dataset:
    path: str
    name: str
    columns: list

    def records(self):
        """Yield (number, {VARIABLE: text}): CSV line numbers, or XPORT records from 1."""
        if is_xpt(self.path):
            yield from _xpt_records(self.path)
        else:
            for line, row in csv_import.read_rows(self.path, ()):
                yield line, {k.upper(): (v or "").strip() for k, v in row.items() if k}


def is_xpt(path) -> bool:
    return Path(path).suffix.lower() == ".xpt"


def _xpt_records(path):
    try:
        yield from xpt.records(path)
    except xpt.XptError as exc:
        raise BadRow(path, 0, "file", str(exc)) from None


def open_dataset(path) -> Dataset:
    """The file's dataset, told by its variables; BadRow when it is none hepwatch reads."""
    if is_xpt(path):
        try:
            names = xpt.columns(path)
        except xpt.XptError as exc:
            raise BadRow(path, 0, "file", str(exc)) from None
    else:
        names = _csv_header(path)
    names = [n.strip().upper() for n in names]
    name = detect(names)
    if name is None:
        raise BadRow(
            path,
            1,
            "file",
            "not a DM, ADSL, EX, LB or ADLB dataset (its variables: "
            + ", ".join(names[:12])
            + (", ..." if len(names) > 12 else "")
            + ")",
        )
    return Dataset(str(path), name, names)


def _csv_header(path):
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            return next(csv.reader(handle), [])
    except OSError as exc:
        raise BadRow(path, 0, "file", exc.strerror or str(exc)) from None
    except (UnicodeDecodeError, csv.Error):
        raise BadRow(path, 1, "file", "not a UTF-8 CSV file") from None


def detect(columns) -> str | None:
    """DM, ADSL, EX, LB or ADLB from a dataset's variables; None for any other."""
    names = set(columns)
    if {"PARAMCD", "AVAL"} <= names and names & {"A1HI", "ANRHI", "A1LO", "ANRLO", "LBSEQ"}:
        return ADLB
    if {"USUBJID", "EXSTDTC", "EXDOSE"} <= names:
        return EX
    if {"USUBJID", "LBTESTCD"} <= names and names & {"LBORRES", "LBSTRESN"}:
        return LB
    if "PARAMCD" in names:
        return None
    if {"USUBJID", "SEX"} <= names and names & {"TRT01A", "TRT01P"}:
        return ADSL
    if {"USUBJID", "SEX", "SITEID"} <= names and names & {"ARMCD", "ARM"}:
        return DM
    return None


# ---- summary ------------------------------------------------------------------------------


@dataclass
class CdiscSummary(csv_import.Summary):
    dataset: str = ""
    study: str = ""
    skipped: Counter = field(default_factory=Counter)  # reason -> records
    merged: Counter = field(default_factory=Counter)  # reason -> records
    notes: list = field(default_factory=list)

    def __str__(self):
        what = "results" if self.dataset in (LB, ADLB) else "administrations"
        what = "subjects" if self.dataset in (DM, ADSL) else what
        text = (
            f"{self.path}: {self.dataset} of {self.study}, {self.rows} records: {what} "
            f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"
        )
        lines = [text]
        if self.merged:
            lines.append("  merged: " + _counted(self.merged))
        if self.skipped:
            lines.append("  skipped: " + _counted(self.skipped))
        lines += [f"  {note}" for note in self.notes]
        return "\n".join(lines)


def _counted(counter):
    return "; ".join(f"{n} {reason}" for reason, n in counter.most_common())


# ---- field parsers: each returns the value or raises ValueError with the reason -----------

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
    number = _sas_number(text)
    if number is None:
        return parse_dtc(text)
    return _after_sas_epoch(text, timedelta(days=int(number)))


def parse_sas_datetime(text: str) -> datetime:
    """ADTM: a date-time as above, or a SAS date-time number (seconds since 1960-01-01)."""
    number = _sas_number(text)
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


def _sas_number(text):
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


# ---- subjects: DM and ADSL ----------------------------------------------------------------


def subject_id(row) -> str:
    """USUBJID, or SUBJID where USUBJID is only STUDYID-SUBJID (hepwatch's own export)."""
    usubjid, subjid, study = row.get("USUBJID", ""), row.get("SUBJID", ""), row.get("STUDYID", "")
    if subjid and study and usubjid == f"{study}-{subjid}":
        return subjid
    return usubjid


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year - years, day=28)


def birth_date_from_age(age: int, on: date) -> date:
    """The middle of the birth dates that make someone `age` years old on `on`."""
    latest = years_before(on, age)
    earliest = years_before(on, age + 1) + timedelta(days=1)
    return earliest + (latest - earliest) / 2


def partial_birth_date(text: str) -> date | None:
    """Mid-year or mid-month for a partial BRTHDTC (YYYY, YYYY-MM); None otherwise."""
    match = re.fullmatch(r"(\d{4})(?:-(\d{2}))?", text.strip())
    if not match:
        return None
    year, month = int(match.group(1)), match.group(2)
    return date(year, int(month), 15) if month else date(year, 7, 1)


@dataclass(frozen=True)
class ArmSpec:
    code: str
    name: str


def arm_of(dataset, row) -> ArmSpec | None:
    """The subject's planned arm as written; None when there is none."""
    if dataset == ADSL and not row.get("ARMCD"):
        name = row.get("TRT01A") or row.get("TRT01P") or row.get("ARM", "")
        return ArmSpec(arm_code_from_name(name), name) if name else None
    code, name = row.get("ARMCD", ""), row.get("ARM", "")
    if not code and not name:
        return None
    return ArmSpec(code or arm_code_from_name(name), name or code)


def arm_code_from_name(name: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_")[:40] or "ARM"


def is_screen_failure(row, arm: ArmSpec | None) -> bool:
    if arm is None:
        return True
    return (
        arm.code.upper() == SCREEN_FAILURE_CODE
        or arm.name.upper() == SCREEN_FAILURE_NAME.upper()
        or row.get("ARMNRS", "").upper() in NOT_RANDOMISED
    )


def parse_subject(data, number, row):
    """(subject_id, values) of one DM or ADSL record; values["arm"] is an ArmSpec."""
    path = data.path

    def get(name, parse=str):
        return csv_import.cell(path, number, row, name, parse)

    get("USUBJID", csv_import.required_text)
    site = get("SITEID", csv_import.required_text)
    sex = get("SEX", parse_sex)
    arm = arm_of(data.name, row)
    screen_failure = is_screen_failure(row, arm)
    if arm is None:
        arm = ArmSpec(SCREEN_FAILURE_CODE, SCREEN_FAILURE_NAME)
    start = first_present(row, ("RFSTDTC",) if data.name == DM else ("RFSTDTC", "TRTSDT"))
    if start is None and screen_failure:
        start = first_present(row, ("RFICDTC", "DMDTC", "RFPENDTC", "RANDDT", "VISIT1DT"))
    elif start is None:
        start = first_present(row, ("RFICDTC", "DMDTC", "RFPENDTC", "RANDDT"))
    if start is None:
        raise BadRow(path, number, "RFSTDTC", "is empty, and no RFICDTC, DMDTC or RFPENDTC")
    enrolled_on = get(start, day_parser(start))
    birth_date = parse_birth_date(data, number, row, enrolled_on)
    birth_field = "BRTHDTC" if row.get("BRTHDTC") else "AGE"
    csv_import.check_birth(path, number, birth_field, birth_date, enrolled_on)
    values = dict(
        site=site,
        sex=sex,
        birth_date=birth_date,
        arm=arm,
        enrolled_on=enrolled_on,
        screen_failure=screen_failure,
    )
    return subject_id(row), values


def first_present(row, names):
    return next((name for name in names if row.get(name)), None)


def parse_birth_date(data, number, row, enrolled_on) -> date:
    path = data.path
    brthdtc = row.get("BRTHDTC", "")
    if brthdtc and not partial_birth_date(brthdtc):
        return csv_import.cell(path, number, row, "BRTHDTC", parse_day)
    if row.get("AGE"):
        unit = row.get("AGEU", "YEARS").upper() or "YEARS"
        if unit not in ("YEARS", "YEAR", "Y"):
            raise BadRow(path, number, "AGEU", f"{unit!r}: only an age in YEARS is understood")
        age = csv_import.cell(path, number, row, "AGE", parse_age)
        reference = first_present(row, ("RFSTDTC", "RFICDTC", "DMDTC"))
        on = csv_import.cell(path, number, row, reference, parse_day) if reference else enrolled_on
        return birth_date_from_age(age, on)
    if brthdtc:
        return partial_birth_date(brthdtc)
    raise BadRow(path, number, "AGE", "no BRTHDTC and no AGE: the birth date is unknown")


def import_subject_level(data: Dataset, study_code=None, reason=None, *, user=None) -> CdiscSummary:
    """DM or ADSL -> subjects (and the study, its sites and arms, as needed)."""
    summary = CdiscSummary(data.path, dataset=data.name)
    parsed, study_ids, countries = {}, {}, {}
    for number, row in data.records():
        summary.rows += 1
        study_of(data.path, number, row, study_ids, study_code)
        sid, values = parse_subject(data, number, row)
        dm_countries.read(data, number, row, values["site"], countries)
        csv_import.repeated(data.path, number, "USUBJID", parsed.get(sid), f"{sid!r}", "record")
        parsed[sid] = (number, values)
    summary.study = code_of(study_ids, study_code)
    with transaction.atomic():
        study = Study.objects.get_or_create(code=summary.study, defaults={"name": summary.study})[0]
        arms = ensure_arms(study, {v["arm"] for _, v in parsed.values()}, summary)
        for _, values in parsed.values():
            values["arm"] = arms[values["arm"]]
        csv_import.write_subjects(study, parsed, summary, reason, user=user)
        dm_countries.write(data, study, countries, reason)
    failures = sum(1 for _, v in parsed.values() if v["screen_failure"])
    if failures:
        summary.notes.append(f"{failures} screen failure(s), imported and marked")
    return summary


def study_of(path, number, row, seen, override):
    """The record's STUDYID; one file holds one study."""
    code = override or row.get("STUDYID", "") or settings.HEPWATCH_DEFAULT_STUDY
    if seen and code not in seen:
        first = next(iter(seen))
        raise BadRow(
            path, number, "STUDYID", f"{code!r}, but record {seen[first]} is of study {first!r}"
        )
    seen.setdefault(code, number)
    return code


def code_of(seen, override):
    return override or next(iter(seen), settings.HEPWATCH_DEFAULT_STUDY)


# ---- arms ---------------------------------------------------------------------------------

DOSE_IN_TEXT = re.compile(r"(\d+(?:\.\d+)?)\s*mg\b", re.IGNORECASE)
FREQUENCY_IN_TEXT = (
    (r"\b(twice daily|bid|two times (a|per) day)\b", 14),
    (r"\b(three times daily|tid)\b", 21),
    (r"\b(once daily|daily|qd|every day|once a day)\b", 7),
    (r"\b(three times (a |per )?week(ly)?|3 times (a |per )?week(ly)?|tiw)\b", 3),
    (r"\b(twice (a )?week(ly)?|two times (a |per )?week|2 times (a |per )?week|biw)\b", 2),
    (r"\b(once (a )?week(ly)?|weekly|qw|every week)\b", 1),
)


def regimen_from_name(name: str):
    """(dose_mg or None, administrations per week or None) as an arm's name states them."""
    dose = None
    match = DOSE_IN_TEXT.search(name)
    if match:
        dose = Decimal(match.group(1))
    elif re.search(r"\bplacebo\b", name, re.IGNORECASE) or name.upper() == "SCREEN FAILURE":
        dose = Decimal(0)
    per_week = None
    for pattern, count in FREQUENCY_IN_TEXT:
        if re.search(pattern, name, re.IGNORECASE):
            per_week = count
            break
    if per_week is None and name.upper() == "SCREEN FAILURE":
        per_week = 0
    return dose, per_week


def ensure_arms(study, specs, summary):
    """{ArmSpec: Arm}: the study's arms matched by code, then by name (case aside); new arms
    are created with the regimen their name states, the rest 0 until EX tells."""
    arms = list(Arm.objects.filter(study=study))
    by_code = {a.code.upper(): a for a in arms}
    by_name = {a.name.upper(): a for a in arms}
    found = {}
    for spec in sorted(specs, key=lambda s: s.code):
        arm = by_code.get(spec.code.upper()) or by_name.get(spec.name.upper())
        if arm is None:
            dose, per_week = regimen_from_name(spec.name)
            starting, _ = Regimen.objects.get_or_create(
                study=study,
                code=spec.code[:40],
                defaults={
                    "name": spec.name[:200],
                    "dose_mg": dose,
                    "administrations_per_week": per_week if per_week is not None else 0,
                },
            )
            arm = Arm.objects.create(
                study=study, code=spec.code[:40], name=spec.name[:200], regimen=starting
            )
            by_code[arm.code.upper()] = by_name[arm.name.upper()] = arm
            summary.notes.append(f"arm {arm.code} ({arm.name}) created: {regimen(arm)}")
        found[spec] = arm
    return found


def regimen(arm) -> str:
    """An arm's regimen, and where each part came from."""
    dose, per_week = regimen_from_name(arm.name)
    starting = arm.regimen
    mg = (
        "dose varies" if starting.dose_mg is None else f"{units.format_number(starting.dose_mg)} mg"
    )
    mg += " (its name)" if dose is not None else ""
    often = f"{starting.administrations_per_week} a week"
    often += " (its name)" if per_week is not None else ""
    if (
        arm.pk
        and (dose is None or per_week is None)
        and not arm.subjects.filter(doses__isnull=False).exists()
    ):
        return f"{mg}, {often}; what its name does not say comes from EX"
    return f"{mg}, {often}"


# ---- doses: EX ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """Administrations every `period` days at these offsets from each period's start; or one
    only (`once`). `months` counts periods in calendar months instead of days."""

    period: int = 1
    offsets: tuple = (timedelta(0),)
    months: bool = False
    once: bool = False

    @property
    def per_week(self) -> int:
        if self.once or self.months:
            return 0
        count = Decimal(7 * len(self.offsets)) / self.period
        return int(count) if count == int(count) else 0


def _hours(*hours):
    return tuple(timedelta(hours=h) for h in hours)


def _days(*days):
    return tuple(timedelta(days=d) for d in days)


SCHEDULES = {}
for names, schedule in (
    (("ONCE", "ONE TIME", "SINGLE DOSE"), Schedule(once=True)),
    (("QD", "DAILY", "ONCE DAILY", "EVERY DAY", "Q24H"), Schedule()),
    (("BID", "TWICE DAILY", "2 TIMES PER DAY", "Q12H"), Schedule(offsets=_hours(0, 12))),
    (("TID", "3 TIMES PER DAY", "Q8H"), Schedule(offsets=_hours(0, 8, 16))),
    (("QID", "4 TIMES PER DAY", "Q6H"), Schedule(offsets=_hours(0, 6, 12, 18))),
    (("QOD", "EVERY OTHER DAY", "Q2D", "EVERY 2 DAYS"), Schedule(period=2)),
    (("QW", "WEEKLY", "ONCE WEEKLY", "EVERY WEEK", "Q1W"), Schedule(period=7)),
    (("BIW", "2 TIMES PER WEEK", "TWICE WEEKLY"), Schedule(period=7, offsets=_days(0, 3))),
    (
        ("TIW", "3 TIMES PER WEEK", "THREE TIMES WEEKLY"),
        Schedule(period=7, offsets=_days(0, 2, 4)),
    ),
    (("Q2W", "EVERY 2 WEEKS", "EVERY OTHER WEEK"), Schedule(period=14)),
    (("Q3W", "EVERY 3 WEEKS"), Schedule(period=21)),
    (("Q4W", "EVERY 4 WEEKS"), Schedule(period=28)),
    (("QM", "MONTHLY", "EVERY MONTH", "ONCE A MONTH"), Schedule(months=True)),
):
    for name in names:
        SCHEDULES[name] = schedule


def parse_frequency(text: str) -> Schedule:
    key = " ".join(text.strip().upper().split())
    if key not in SCHEDULES:
        known = "QD, BID, TID, QID, QOD, QW, BIW, 3 TIMES PER WEEK, Q2W, Q3W, Q4W, QM, ONCE"
        raise ValueError(f"unknown dosing frequency {text.strip()!r} (hepwatch expands {known})")
    return SCHEDULES[key]


def add_months(moment: datetime, months: int) -> datetime:
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    for day in (moment.day, 30, 29, 28):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def administrations(start: datetime, end: datetime | None, schedule: Schedule):
    """The administration times of one exposure record, from `start` to `end` inclusive."""
    if schedule.once or end is None:
        return [start]
    times, k = [], 0
    while True:
        if schedule.months:
            period_start = add_months(start, k)
        else:
            period_start = start + timedelta(days=schedule.period * k)
        if period_start > end:
            return times
        times += [period_start + o for o in schedule.offsets if period_start + o <= end]
        k += 1


def end_of(text: str) -> datetime:
    """EXENDTC as a bound: a date covers the whole day."""
    moment = parse_dtc(text)
    if ISO.fullmatch(text.strip()) and len(text.strip()) == 10:
        return moment + timedelta(days=1) - timedelta(microseconds=1)
    return moment


def parse_exposure(data: Dataset, study_code=None):
    """EX -> ({(subject_pk, administered_at): (record, dose_mg)}, per subject a Counter of
    (dose, per week) by administrations, summary)."""
    summary = CdiscSummary(data.path, dataset=EX)
    study_ids = {}
    doses, regimens, open_ended = {}, defaultdict(Counter), 0
    lookup = None
    for number, row in data.records():
        summary.rows += 1
        code = study_of(data.path, number, row, study_ids, study_code)
        if lookup is None:
            lookup = SubjectLookup(code)
        subject_pk = lookup.find(data.path, number, row)
        dose_mg = exposure_dose(data.path, number, row)
        start = csv_import.cell(data.path, number, row, "EXSTDTC", parse_dtc)
        schedule = _frequency(data.path, number, row, start)
        end = None
        if row.get("EXENDTC"):
            end = csv_import.cell(data.path, number, row, "EXENDTC", end_of)
            if end < start:
                raise BadRow(data.path, number, "EXENDTC", "is before EXSTDTC")
            if end - start > MAX_INTERVAL:
                raise BadRow(data.path, number, "EXENDTC", "is more than 10 years after EXSTDTC")
        elif not schedule.once:
            open_ended += 1
        for moment in administrations(start, end, schedule):
            key = (subject_pk, moment)
            earlier = doses.get(key)
            if earlier and earlier[1] != dose_mg:
                raise BadRow(
                    data.path,
                    number,
                    "EXDOSE",
                    f"{units.format_number(dose_mg)} mg at {moment:%Y-%m-%d %H:%M} UTC, but "
                    f"record {earlier[0]} gives {units.format_number(earlier[1])} mg then",
                )
            if earlier:
                summary.merged["administrations given by two records"] += 1
                continue
            doses[key] = (number, dose_mg)
            regimens[subject_pk][(dose_mg, schedule.per_week)] += 1
    summary.study = code_of(study_ids, study_code)
    if open_ended:
        summary.notes.append(
            f"{open_ended} record(s) without EXENDTC: one administration at EXSTDTC each"
        )
    return doses, regimens, summary


def _frequency(path, number, row, start):
    if not row.get("EXDOSFRQ"):
        if row.get("EXENDTC") and parse_dtc_or_none(row["EXENDTC"]) != start:
            raise BadRow(path, number, "EXDOSFRQ", "is empty for an interval; how often is unknown")
        return Schedule(once=True)
    return csv_import.cell(path, number, row, "EXDOSFRQ", parse_frequency)


def parse_dtc_or_none(text):
    try:
        return parse_dtc(text)
    except ValueError:
        return None


DOSE_UNITS = {"MG": Decimal(1), "G": Decimal(1000), "UG": Decimal("0.001"), "MCG": Decimal("0.001")}


def exposure_dose(path, number, row) -> Decimal:
    dose = csv_import.cell(path, number, row, "EXDOSE", parse_dose)
    unit = (row.get("EXDOSU", "").strip().upper() or "MG").replace("\u039c", "U")  # µg -> UG
    if unit not in DOSE_UNITS:
        raise BadRow(path, number, "EXDOSU", f"{unit!r}: hepwatch records doses in mg")
    mg = dose * DOSE_UNITS[unit]
    shown = f"{units.format_number(mg)} mg"
    try:
        return inputs.check_dose(inputs.round_to(mg, inputs.DOSE_PLACES, zero=True, shown=shown))
    except ValueError as exc:
        raise BadRow(path, number, "EXDOSE", str(exc)) from None


class SubjectLookup:
    """A study's subjects by subject ID, found by USUBJID or by what follows 'STUDYID-'."""

    def __init__(self, study_code):
        self.study = Study.objects.filter(code=study_code).first()
        self.study_code = study_code
        self.pks = csv_import.subject_lookup(self.study) if self.study else {}

    def find(self, path, number, row):
        usubjid = csv_import.cell(path, number, row, "USUBJID", csv_import.required_text)
        if self.study is None:
            raise BadRow(
                path,
                number,
                "STUDYID",
                f"unknown study {self.study_code!r}: import its DM or ADSL first",
            )
        prefix = f"{row.get('STUDYID') or self.study_code}-"
        pk = self.pks.get(usubjid)
        if pk is None and usubjid.startswith(prefix):
            pk = self.pks.get(usubjid[len(prefix) :])
        if pk is None:
            raise BadRow(path, number, "USUBJID", f"unknown subject {usubjid!r}")
        return pk


def import_exposure(data: Dataset, study_code=None, reason=None, *, user=None) -> CdiscSummary:
    doses, regimens, summary = parse_exposure(data, study_code)
    with transaction.atomic():
        csv_import.write_doses(doses, summary, reason, user=user)
        update_arm_regimens(regimens, summary)
    return summary


def update_arm_regimens(regimens, summary):
    """Give the starting regimens of arms whose name does not state their dose or frequency
    what their subjects' administrations say: the dose when it never varies (a regimen whose
    dose varies in the data has no dose), and the most frequent frequency."""
    by_arm = defaultdict(Counter)
    arm_of_subject = dict(Subject.objects.filter(pk__in=list(regimens)).values_list("pk", "arm_id"))
    for subject_pk, counts in regimens.items():
        by_arm[arm_of_subject[subject_pk]].update(counts)
    for arm in Arm.objects.filter(pk__in=list(by_arm)).select_related("regimen"):
        named_dose, named_per_week = regimen_from_name(arm.name)
        counts = by_arm[arm.pk]
        doses = {dose for dose, _ in counts}
        dose = doses.pop() if len(doses) == 1 else None
        frequencies = Counter()
        for (_, often), n in counts.items():
            frequencies[often] += n
        per_week = frequencies.most_common(1)[0][0]
        starting = arm.regimen
        changes = {}
        if named_dose is None and starting.dose_mg != dose:
            changes["dose_mg"] = dose
        if named_per_week is None and starting.administrations_per_week != per_week:
            changes["administrations_per_week"] = per_week
        if changes:
            for key, value in changes.items():
                setattr(starting, key, value)
            starting._change_reason = "from the study's EX data"
            starting.save(update_fields=list(changes))
            summary.notes.append(f"arm {arm.code} ({arm.name}) from EX: {regimen(arm)}")


# ---- labs: LB and ADLB --------------------------------------------------------------------


def lb_result(path, number, row):
    """(test code, value, unit, uln, value variable, ULN variable) of an SDTM LB record; value
    None when the record holds no numeric result."""
    test = row.get("LBTESTCD", "").upper()
    analyte = TESTS.get(test)
    if analyte is None:
        return test, None, None, None, "LBTESTCD", ""
    original = maybe_number(row.get("LBORRES", ""))
    if original is not None and _known_unit(analyte, row.get("LBORRESU", "")):
        unit = units.normalise_unit(analyte, row["LBORRESU"])
        uln = _uln(path, number, row, ("LBORNRHI",))
        return test, original, unit, uln, "LBORRES", "LBORNRHI"
    if not row.get("LBSTRESN"):
        return test, None, None, None, "LBSTRESN", ""
    value = csv_import.cell(path, number, row, "LBSTRESN", csv_import.parse_number)
    unit = _unit(path, number, row, analyte, "LBSTRESU")
    uln = _uln(path, number, row, ("LBSTNRHI",))
    return test, value, unit, uln, "LBSTRESN", "LBSTNRHI"


ADLB_ULNS = ("A1HI", "ANRHI", "LBSTNRHI")


def adlb_result(path, number, row):
    """(test code, value, unit, uln, value variable, ULN variable) of an ADaM ADLB record."""
    test = row.get("PARAMCD", "").upper()
    analyte = TESTS.get(test)
    if analyte is None or not row.get("AVAL"):
        return test, None, None, None, "AVAL", ""
    value = csv_import.cell(path, number, row, "AVAL", csv_import.parse_number)
    unit_text = row.get("AVALU") or unit_in_param(row.get("PARAM", "")) or row.get("LBSTRESU")
    if not unit_text:
        raise BadRow(path, number, "PARAM", "no unit: no AVALU, none in PARAM, no LBSTRESU")
    try:
        unit = units.normalise_unit(analyte, unit_text)
    except units.UnitError as exc:
        raise BadRow(path, number, "PARAM", str(exc)) from None
    uln = _uln(path, number, row, ADLB_ULNS)
    return test, value, unit, uln, "AVAL", first_present(row, ADLB_ULNS) or "A1HI"


def unit_in_param(param: str) -> str:
    """The unit in a PARAM's last parentheses: "Bilirubin (umol/L)" -> "umol/L"."""
    match = re.search(r"\(([^()]*)\)\s*$", param.strip())
    return match.group(1).strip() if match else ""


def _known_unit(analyte, unit):
    try:
        units.normalise_unit(analyte, unit)
    except units.UnitError:
        return False
    return True


def _unit(path, number, row, analyte, name):
    return csv_import.cell(path, number, row, name, lambda t: units.normalise_unit(analyte, t))


def _uln(path, number, row, names):
    name = first_present(row, names)
    return csv_import.cell(path, number, row, name, csv_import.parse_number) if name else None


def collected_at(dataset, path, number, row) -> datetime:
    if dataset == LB:
        return csv_import.cell(path, number, row, "LBDTC", parse_dtc)
    if row.get("ADTM"):
        return csv_import.cell(path, number, row, "ADTM", parse_sas_datetime)
    if row.get("ADT"):
        moment = csv_import.cell(path, number, row, "ADT", parse_sas_date)
        if row.get("ATM"):
            clock = csv_import.cell(path, number, row, "ATM", parse_clock)
            moment = datetime.combine(moment.date(), clock, tzinfo=UTC)
        return moment
    return csv_import.cell(path, number, row, "LBDTC", parse_dtc)


def parse_clock(text: str) -> time:
    """ATM: HH:MM[:SS], or a SAS time number (seconds since midnight)."""
    number = _sas_number(text)
    if number is not None:
        return (datetime(2000, 1, 1) + timedelta(seconds=float(number))).time()
    try:
        return time.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a time of day") from None


def repeat_reason(row) -> str:
    visit = " ".join(row.get("AVISIT", "").split())
    if visit.upper() == "END OF TREATMENT" or row.get("DTYPE"):
        return f"{visit or row['DTYPE']} copies of an earlier record"
    return "records repeating another (same test, time and value)"


def parse_lab_dataset(data: Dataset, study_code=None):
    """LB or ADLB -> (draws in write_labs' shape, summary)."""
    summary = CdiscSummary(data.path, dataset=data.name)
    read = lb_result if data.name == LB else adlb_result
    study_ids, draws, lookup, other_tests = {}, {}, None, Counter()
    for number, row in data.records():
        summary.rows += 1
        code = study_of(data.path, number, row, study_ids, study_code)
        if lookup is None:
            lookup = SubjectLookup(code)
        test, value, unit, uln, variable, uln_variable = read(data.path, number, row)
        analyte = TESTS.get(test)
        if analyte is None:
            other_tests[test or "(no test code)"] += 1
            continue
        if value is None:
            summary.skipped[f"{analyte} records without a numeric result"] += 1
            continue
        csv_import.plausible(data.path, number, analyte, value, unit, uln, (variable, uln_variable))
        subject_pk = lookup.find(data.path, number, row)
        moment = collected_at(data.name, data.path, number, row)
        draw = draws.setdefault(
            (subject_pk, moment), {"line": number, "symptoms": None, "results": {}}
        )
        earlier = draw["results"].get(analyte)
        if earlier is None:
            draw["results"][analyte] = (number, (value, unit, uln))
        elif same_result(analyte, earlier[1], (value, unit, uln)):
            summary.merged[repeat_reason(row)] += 1
        else:
            raise BadRow(
                data.path,
                number,
                variable,
                f"{test} {units.format_number(value)} {unit} at {moment:%Y-%m-%d %H:%M} UTC, "
                f"but record {earlier[0]} has {units.format_number(earlier[1][0])} "
                f"{earlier[1][1]} (ULN {_shown(earlier[1][2])}) for that time",
            )
    if other_tests:
        names = ", ".join(sorted(other_tests))
        summary.skipped[f"other tests ({names})"] = sum(other_tests.values())
    summary.study = code_of(study_ids, study_code)
    return draws, summary


def _shown(uln):
    return "none" if uln is None else units.format_number(uln)


def same_result(analyte, first, second) -> bool:
    """One result repeated: the same value and ULN, whatever units they are written in."""
    (v1, u1, uln1), (v2, u2, uln2) = first, second
    if units.to_canonical(analyte, v1, u1) != units.to_canonical(analyte, v2, u2):
        return False
    if (uln1 is None) != (uln2 is None):
        return False
    return uln1 is None or units.to_canonical(analyte, uln1, u1) == units.to_canonical(
        analyte, uln2, u2
    )


def import_labs(data: Dataset, study_code=None, reason=None, *, user=None) -> CdiscSummary:
    draws, summary = parse_lab_dataset(data, study_code)
    with transaction.atomic():
        csv_import.write_labs(draws, summary, reason, user=user)
    summary.notes.append(f"{len(draws)} draws")
    return summary


# ---- files --------------------------------------------------------------------------------

IMPORTERS = {
    DM: import_subject_level,
    ADSL: import_subject_level,
    EX: import_exposure,
    LB: import_labs,
    ADLB: import_labs,
}


@dataclass
class Outcome:
    summaries: list = field(default_factory=list)
    errors: list = field(default_factory=list)  # BadRow, or (path, message)
    changed: set = field(default_factory=set)  # subject pks to evaluate


def import_files(paths, study_code=None, reason=None, *, user=None) -> Outcome:
    """Import CDISC files in dependency order (DM/ADSL, then EX, then LB/ADLB), each in its own
    transaction, credited to `user` when given (the web import's signed-in staff user). Returns
    what was imported and the subjects whose data changed; evaluating them is the caller's
    (evaluation.runner.request_evaluation), once for all files."""
    outcome, datasets = Outcome(), []
    for path in paths:
        try:
            datasets.append(open_dataset(path))
        except BadRow as bad:
            outcome.errors.append(bad)
    for data in sorted(datasets, key=lambda d: ORDER[d.name]):
        try:
            summary = IMPORTERS[data.name](data, study_code, reason, user=user)
        except BadRow as bad:
            outcome.errors.append(bad)
            continue
        outcome.summaries.append(summary)
        outcome.changed |= summary.subjects
    return outcome
