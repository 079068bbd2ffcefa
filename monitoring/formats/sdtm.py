"""CDISC SDTM tabulations (SDTMIG v3.4 variable names and core designations): DM, EX and LB.

Each domain lists its variables with their core: Req (must be present and never empty), Exp
(present, may be empty when not collected) or Perm (present when we hold the data). Dates are
ISO 8601; date-times are in UTC, written without an offset as SDTM datasets usually carry them.
Study days (--DY) count from RFSTDTC, the first dose, with no day 0. USUBJID is
STUDYID-SUBJID, one per subject.

Where hepwatch does not collect a value, the variable is left empty rather than invented:
RACE, RFICDTC (informed consent), VISITNUM (no protocol visits), LBORNRLO/LBSTNRLO (only upper
limits are kept), LBLOINC for LDL-C (calculated and direct LDL-C have different codes and the
method is not recorded). COUNTRY is required: it is the site's country (ISO 3166-1 alpha-3),
unless a site -> country mapping given by the caller names the site (the export refuses to write
for a site with neither).
"""

import csv
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from monitoring import units
from monitoring.models import LabDraw
from subjects.models import Dose, Regimen, Subject

REQ, EXP, PERM = "Req", "Exp", "Perm"

DM_VARIABLES = (
    ("STUDYID", REQ),
    ("DOMAIN", REQ),
    ("USUBJID", REQ),
    ("SUBJID", REQ),
    ("RFSTDTC", EXP),
    ("RFENDTC", EXP),
    ("RFXSTDTC", EXP),
    ("RFXENDTC", EXP),
    ("RFICDTC", EXP),
    ("RFPENDTC", EXP),
    ("DTHDTC", EXP),
    ("DTHFL", EXP),
    ("SITEID", REQ),
    ("BRTHDTC", PERM),
    ("AGE", EXP),
    ("AGEU", EXP),
    ("SEX", REQ),
    ("RACE", EXP),
    ("ARMCD", EXP),
    ("ARM", EXP),
    ("ACTARMCD", EXP),
    ("ACTARM", EXP),
    ("ARMNRS", EXP),
    ("ACTARMUD", EXP),
    ("COUNTRY", REQ),
)
EX_VARIABLES = (
    ("STUDYID", REQ),
    ("DOMAIN", REQ),
    ("USUBJID", REQ),
    ("EXSEQ", REQ),
    ("EXTRT", REQ),
    ("EXDOSE", EXP),
    ("EXDOSU", EXP),
    ("EXDOSFRM", EXP),
    ("EXDOSFRQ", PERM),
    ("EXROUTE", PERM),
    ("EXSTDTC", EXP),
    ("EXENDTC", EXP),
    ("EXSTDY", PERM),
    ("EXENDY", PERM),
)
LB_VARIABLES = (
    ("STUDYID", REQ),
    ("DOMAIN", REQ),
    ("USUBJID", REQ),
    ("LBSEQ", REQ),
    ("LBTESTCD", REQ),
    ("LBTEST", REQ),
    ("LBCAT", EXP),
    ("LBORRES", EXP),
    ("LBORRESU", EXP),
    ("LBORNRLO", EXP),
    ("LBORNRHI", EXP),
    ("LBSTRESC", EXP),
    ("LBSTRESN", EXP),
    ("LBSTRESU", EXP),
    ("LBSTNRLO", PERM),
    ("LBSTNRHI", PERM),
    ("LBNRIND", EXP),
    ("LBLOINC", PERM),
    ("LBSPEC", PERM),
    ("LBBLFL", EXP),
    ("LBTOXGR", EXP),
    ("VISITNUM", EXP),
    ("LBDTC", EXP),
    ("LBDY", PERM),
)
DOMAINS = {"DM": DM_VARIABLES, "EX": EX_VARIABLES, "LB": LB_VARIABLES}

# hepwatch analyte -> (LBTESTCD, LBTEST, LBLOINC)
LB_TESTS = {
    "ALT": ("ALT", "Alanine Aminotransferase", "1742-6"),
    "AST": ("AST", "Aspartate Aminotransferase", "1920-8"),
    "ALP": ("ALP", "Alkaline Phosphatase", "6768-6"),
    "TBIL": ("BILI", "Bilirubin", "1975-2"),
    "LDLC": ("LDL", "LDL Cholesterol", ""),
    "APOB": ("APOB", "Apolipoprotein B", "1884-6"),
    "INR": ("INR", "Prothrombin Intl. Normalized Ratio", "6301-6"),
    "EOS": ("EOS", "Eosinophils/Leukocytes", "713-8"),
}
# CDISC UNIT codelist spellings.
UNITS = {"U/L": "U/L", "ukat/L": "ukat/L", "mg/dL": "mg/dL", "umol/L": "umol/L"}
UNITS |= {"mmol/L": "mmol/L", "g/L": "g/L", "{INR}": "RATIO", "%": "%"}
EXTRT = "MIPOMERSEN"
FREQUENCIES = {1: "QW", 3: "3 TIMES PER WEEK"}


class SdtmError(ValueError):
    pass


def required(domain):
    return [name for name, core in DOMAINS[domain] if core == REQ]


def dtc(moment) -> str:
    if moment is None:
        return ""
    if isinstance(moment, datetime):
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return moment.isoformat()


def study_day(moment, reference) -> int | None:
    """SDTM study day: day 1 is the reference date, the day before is -1 (there is no day 0)."""
    if moment is None or reference is None:
        return None
    days = (moment.astimezone(UTC).date() - reference.astimezone(UTC).date()).days
    return days + 1 if days >= 0 else days


def number(value) -> str:
    """A number for a numeric variable: up to 6 decimals, no trailing zeros."""
    if value is None:
        return ""
    if isinstance(value, Fraction):
        value = units.as_decimal(value, 6)
    text = f"{Decimal(value).normalize():f}"
    return text


def usubjid(subject) -> str:
    return f"{subject.study.code}-{subject.subject_id}"


def armcd(arm) -> str:
    return arm.code.upper()[:20]


# A blinded extract masks the allocation: ARM and ACTARM "Blinded", ARMCD and ACTARMCD
# "BLINDED", and EX's EXDOSFRQ (the regimen's frequency) left empty.
BLINDED_ARMCD, BLINDED_ARM = "BLINDED", "Blinded"


def _shown(sees_arm, subject) -> bool:
    return sees_arm is None or sees_arm(subject)


@dataclass
class Tabulation:
    domain: str
    rows: list  # dicts keyed by variable

    @property
    def variables(self):
        return [name for name, _ in DOMAINS[self.domain]]

    def empty_required(self):
        """[(row number, variable)] of required variables left empty."""
        names = required(self.domain)
        return [
            (i, name)
            for i, row in enumerate(self.rows, start=1)
            for name in names
            if row.get(name) in (None, "")
        ]


def _subjects(subjects):
    qs = subjects if subjects is not None else Subject.objects.all()
    return list(qs.select_related("study", "site", "arm").order_by("study__code", "subject_id"))


def dm(subjects=None, countries=None, sees_arm=None) -> Tabulation:
    given = {} if countries is None else countries
    subjects = _subjects(subjects)
    countries = {s.site.code: given.get(s.site.code) or s.site.country for s in subjects}
    missing = sorted({code for code, country in countries.items() if not country})
    if missing:
        raise SdtmError(
            "COUNTRY is required in DM: give a country (ISO 3166-1 alpha-3) for site(s) "
            + ", ".join(missing)
        )
    doses = {}
    for subject_pk, at in Dose.objects.filter(subject__in=[s.pk for s in subjects]).values_list(
        "subject_id", "administered_at"
    ):
        first, last = doses.get(subject_pk, (at, at))
        doses[subject_pk] = (min(first, at), max(last, at))
    last_draw = {}
    for subject_pk, at in LabDraw.objects.filter(subject__in=[s.pk for s in subjects]).values_list(
        "subject_id", "collected_at"
    ):
        last_draw[subject_pk] = max(at, last_draw.get(subject_pk, at))
    rows = []
    for s in subjects:
        first, last = doses.get(s.pk, (None, None))
        treated = first is not None
        age_on = (first.astimezone(UTC).date() if first else s.enrolled_on) or date.today()
        end_participation = max(
            [m for m in (last, last_draw.get(s.pk)) if m is not None], default=None
        )
        code, name = (
            (armcd(s.arm), s.arm.name) if _shown(sees_arm, s) else (BLINDED_ARMCD, BLINDED_ARM)
        )
        rows.append(
            {
                "STUDYID": s.study.code,
                "DOMAIN": "DM",
                "USUBJID": usubjid(s),
                "SUBJID": s.subject_id,
                "RFSTDTC": dtc(first),
                "RFENDTC": dtc(last),
                "RFXSTDTC": dtc(first),
                "RFXENDTC": dtc(last),
                "RFICDTC": "",
                "RFPENDTC": dtc(end_participation),
                "DTHDTC": "",
                "DTHFL": "",
                "SITEID": s.site.code,
                "BRTHDTC": dtc(s.birth_date),
                "AGE": units.age_on(s.birth_date, age_on),
                "AGEU": "YEARS",
                "SEX": s.sex,
                "RACE": "",
                "ARMCD": code,
                "ARM": name,
                "ACTARMCD": code if treated else "",
                "ACTARM": name if treated else "",
                "ARMNRS": "" if treated else "ASSIGNED, NOT TREATED",
                "ACTARMUD": "",
                "COUNTRY": countries[s.site.code],
            }
        )
    return Tabulation("DM", rows)


def ex(subjects=None, sees_arm=None) -> Tabulation:
    subjects = _subjects(subjects)
    by_pk = {s.pk: s for s in subjects}
    regimens = {}
    for regimen in Regimen.objects.filter(study__in={s.study_id for s in subjects}):
        if regimen.dose_mg is not None:
            regimens.setdefault(
                (regimen.study_id, regimen.dose_mg), regimen.administrations_per_week
            )
    rows, seq, first_dose = [], {}, {}
    for dose in Dose.objects.filter(subject__in=list(by_pk)).order_by(
        "subject__subject_id", "administered_at"
    ):
        s = by_pk[dose.subject_id]
        first_dose.setdefault(s.pk, dose.administered_at)
        seq[s.pk] = seq.get(s.pk, 0) + 1
        per_week = regimens.get((s.study_id, dose.dose_mg)) if _shown(sees_arm, s) else None
        day = study_day(dose.administered_at, first_dose[s.pk])
        rows.append(
            {
                "STUDYID": s.study.code,
                "DOMAIN": "EX",
                "USUBJID": usubjid(s),
                "EXSEQ": seq[s.pk],
                "EXTRT": EXTRT,
                "EXDOSE": number(dose.dose_mg),
                "EXDOSU": "mg",
                "EXDOSFRM": "INJECTION, SOLUTION",
                "EXDOSFRQ": FREQUENCIES.get(per_week, ""),
                "EXROUTE": "SUBCUTANEOUS",
                "EXSTDTC": dtc(dose.administered_at),
                "EXENDTC": dtc(dose.administered_at),
                "EXSTDY": day,
                "EXENDY": day,
            }
        )
    return Tabulation("EX", rows)


def lb(subjects=None) -> Tabulation:
    subjects = _subjects(subjects)
    by_pk = {s.pk: s for s in subjects}
    first_dose = {}
    for subject_pk, at in Dose.objects.filter(subject__in=list(by_pk)).values_list(
        "subject_id", "administered_at"
    ):
        first_dose[subject_pk] = min(at, first_dose.get(subject_pk, at))
    draws = (
        LabDraw.objects.filter(subject__in=list(by_pk))
        .prefetch_related("results")
        .order_by("subject__subject_id", "collected_at")
    )
    # Baseline flag: per subject and test, the latest result on or before the first dose.
    baseline = {}
    for draw in draws:
        start = first_dose.get(draw.subject_id)
        if start is None or draw.collected_at > start:
            continue
        for r in draw.results.all():
            baseline[(draw.subject_id, r.analyte)] = r.pk
    rows, seq = [], {}
    for draw in draws:
        s = by_pk[draw.subject_id]
        for r in sorted(draw.results.all(), key=lambda r: list(LB_TESTS).index(r.analyte)):
            testcd, test, loinc = LB_TESTS[r.analyte]
            seq[s.pk] = seq.get(s.pk, 0) + 1
            exact = r.exact_value()
            uln = r.exact_uln()
            factor = units.ANALYTES[r.analyte].units[r.unit]
            grade = r.ctcae_grade()
            rows.append(
                {
                    "STUDYID": s.study.code,
                    "DOMAIN": "LB",
                    "USUBJID": usubjid(s),
                    "LBSEQ": seq[s.pk],
                    "LBTESTCD": testcd,
                    "LBTEST": test,
                    "LBCAT": "CHEMISTRY",
                    "LBORRES": number(r.value),
                    "LBORRESU": UNITS[r.unit],
                    "LBORNRLO": "",
                    "LBORNRHI": number(uln / factor) if uln else "",
                    "LBSTRESC": number(exact),
                    "LBSTRESN": number(exact),
                    "LBSTRESU": units.ANALYTES[r.analyte].canonical_unit,
                    "LBSTNRLO": "",
                    "LBSTNRHI": number(uln) if uln else "",
                    "LBNRIND": ("HIGH" if exact > uln else "NORMAL") if uln else "",
                    "LBLOINC": loinc,
                    "LBSPEC": "SERUM",
                    "LBBLFL": "Y" if baseline.get((s.pk, r.analyte)) == r.pk else "",
                    "LBTOXGR": "" if grade is None else str(grade),
                    "VISITNUM": "",
                    "LBDTC": dtc(draw.collected_at),
                    "LBDY": study_day(draw.collected_at, first_dose.get(s.pk)),
                }
            )
    return Tabulation("LB", rows)


def write(tabulation: Tabulation, path):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=tabulation.variables, lineterminator="\n")
        writer.writeheader()
        for row in tabulation.rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})


def write_xpt(tabulation: Tabulation, path):
    """SAS XPORT v5 with SDTMIG labels and types (monitoring/xpt.py); pandas is loaded only
    when a transport file is asked for."""
    from monitoring.formats import xpt

    try:
        xpt.write(tabulation.domain, tabulation.variables, tabulation.rows, path)
    except xpt.XptError as error:
        raise SdtmError(str(error)) from None


WRITERS = {"csv": write, "xpt": write_xpt}


def export(output_dir, *, countries=None, subjects=None, fmt="csv", sees_arm=None):
    """Write dm, ex and lb as .csv (or .xpt with fmt="xpt"); refuse (SdtmError) when a required
    value is empty. `sees_arm(subject)` False masks that subject's allocation (BLINDED_ARM)."""
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    tabulations = [dm(subjects, countries, sees_arm), ex(subjects, sees_arm), lb(subjects)]
    for tab in tabulations:
        empty = tab.empty_required()
        if empty:
            row, name = empty[0]
            raise SdtmError(f"{tab.domain} row {row}: required variable {name} is empty")
    paths = []
    for tab in tabulations:
        path = output / f"{tab.domain.lower()}.{fmt}"
        WRITERS[fmt](tab, path)
        paths.append((path, len(tab.rows)))
    return paths
