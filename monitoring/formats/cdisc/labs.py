"""LB and ADLB: laboratory results with their units and ULNs; repeated records merged."""

import re
from collections import Counter
from datetime import UTC, datetime, time, timedelta

from django.db import transaction

from monitoring import units
from monitoring.formats import csv_import, lab_csv
from monitoring.formats.cdisc.datasets import LB, CdiscSummary, Dataset
from monitoring.formats.cdisc.subject_level import SubjectLookup, code_of, first_present, study_of
from monitoring.formats.cdisc.values import (
    maybe_number,
    parse_dtc,
    parse_sas_date,
    parse_sas_datetime,
    sas_number,
)
from monitoring.formats.csv_import import BadRow

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
    number = sas_number(text)
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
        lab_csv.plausible(data.path, number, analyte, value, unit, uln, (variable, uln_variable))
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
        lab_csv.write_labs(draws, summary, reason, user=user)
    summary.notes.append(f"{len(draws)} draws")
    return summary
