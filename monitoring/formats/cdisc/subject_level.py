"""DM and ADSL: subjects, their study and arms, and a study's subjects found by ID."""

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from monitoring import units
from monitoring.formats import csv_import, dm_countries
from monitoring.formats.cdisc.datasets import ADSL, DM, CdiscSummary, Dataset
from monitoring.formats.cdisc.values import day_parser, parse_age, parse_day, parse_sex
from monitoring.formats.csv_import import BadRow
from subjects.models import Arm, Regimen, Study

SCREEN_FAILURE_CODE, SCREEN_FAILURE_NAME = "SCRNFAIL", "Screen Failure"
NOT_RANDOMISED = {"SCREEN FAILURE", "NOT ASSIGNED"}


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
