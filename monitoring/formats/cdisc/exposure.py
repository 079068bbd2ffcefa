"""EX: exposure records expanded into administrations, and arms' regimens from them."""

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction

from monitoring import units
from monitoring.formats import csv_import
from monitoring.formats.cdisc.datasets import EX, CdiscSummary, Dataset
from monitoring.formats.cdisc.subject_level import (
    SubjectLookup,
    code_of,
    regimen,
    regimen_from_name,
    study_of,
)
from monitoring.formats.cdisc.values import ISO, parse_dose, parse_dtc
from monitoring.formats.csv_import import BadRow
from subjects import inputs
from subjects.models import Arm, Subject

MAX_INTERVAL = timedelta(days=3660)


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
