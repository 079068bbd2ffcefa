"""SAS XPORT version 5 (.xpt), the transport format the FDA requires, through pyreadstat.

Reading gives each record as text, the same as a CSV cell, so one parser serves both formats:
numbers in their shortest exact decimal form, in digits (54.0 -> "54", 0.1 -> "0.1", 1e-05 ->
"0.00001"; 5.4e-79, the smallest IBM float, which some writers store for 0, -> "0"), dates as
ISO 8601, missing values as "". A file is read whole before any record is given, and refused
(XptError, saying what is wrong) when it is not whole: not a whole number of 80-byte card
images, fewer records read than its data holds, more than one dataset, or headers pyreadstat
cannot read.

Writing takes SDTM tabulations (monitoring/sdtm.py) and stores numeric
variables as numbers and the rest as text, with SDTMIG labels. Character lengths are the longest
value's, as the FDA's technical conformance guide asks; names, labels and values are checked
against the v5 limits (8, 40 and 200 characters) before anything is written.
"""

import math
import mmap
import os
from datetime import date, datetime, time
from decimal import Decimal

import pandas as pd
import pyreadstat

MAX_NAME, MAX_LABEL, MAX_TEXT = 8, 40, 200
CARD = 80  # XPORT v5 is written in 80-byte card images
MEMBER_HEADER = b"HEADER RECORD*******MEMBER  HEADER RECORD"
OBS_HEADER = b"HEADER RECORD*******OBS     HEADER RECORD"
IBM_ZERO = 1e-78  # below the smallest IBM float: what a writer stored for 0

DATASET_LABELS = {"DM": "Demographics", "EX": "Exposure", "LB": "Laboratory Test Results"}

# SDTMIG v3.4 variable labels.
LABELS = {
    "STUDYID": "Study Identifier",
    "DOMAIN": "Domain Abbreviation",
    "USUBJID": "Unique Subject Identifier",
    "SUBJID": "Subject Identifier for the Study",
    "RFSTDTC": "Subject Reference Start Date/Time",
    "RFENDTC": "Subject Reference End Date/Time",
    "RFXSTDTC": "Date/Time of First Study Treatment",
    "RFXENDTC": "Date/Time of Last Study Treatment",
    "RFICDTC": "Date/Time of Informed Consent",
    "RFPENDTC": "Date/Time of End of Participation",
    "DTHDTC": "Date/Time of Death",
    "DTHFL": "Subject Death Flag",
    "SITEID": "Study Site Identifier",
    "BRTHDTC": "Date/Time of Birth",
    "AGE": "Age",
    "AGEU": "Age Units",
    "SEX": "Sex",
    "RACE": "Race",
    "ARMCD": "Planned Arm Code",
    "ARM": "Description of Planned Arm",
    "ACTARMCD": "Actual Arm Code",
    "ACTARM": "Description of Actual Arm",
    "ARMNRS": "Reason Arm and/or Actual Arm is Null",
    "ACTARMUD": "Description of Unplanned Actual Arm",
    "COUNTRY": "Country",
    "EXSEQ": "Sequence Number",
    "EXTRT": "Name of Treatment",
    "EXDOSE": "Dose",
    "EXDOSU": "Dose Units",
    "EXDOSFRM": "Dose Form",
    "EXDOSFRQ": "Dosing Frequency per Interval",
    "EXROUTE": "Route of Administration",
    "EXSTDTC": "Start Date/Time of Treatment",
    "EXENDTC": "End Date/Time of Treatment",
    "EXSTDY": "Study Day of Start of Treatment",
    "EXENDY": "Study Day of End of Treatment",
    "LBSEQ": "Sequence Number",
    "LBTESTCD": "Lab Test or Examination Short Name.",
    "LBTEST": "Lab Test or Examination Name",
    "LBCAT": "Category for Lab Test",
    "LBORRES": "Result or Finding in Original Units",
    "LBORRESU": "Original Units",
    "LBORNRLO": "Reference Range Lower Limit in Orig Unit",
    "LBORNRHI": "Reference Range Upper Limit in Orig Unit",
    "LBSTRESC": "Character Result/Finding in Std Format",
    "LBSTRESN": "Numeric Result/Finding in Standard Units",
    "LBSTRESU": "Standard Units",
    "LBSTNRLO": "Reference Range Lower Limit-Std Units",
    "LBSTNRHI": "Reference Range Upper Limit-Std Units",
    "LBNRIND": "Reference Range Indicator",
    "LBLOINC": "LOINC Code",
    "LBSPEC": "Specimen Type",
    "LBBLFL": "Baseline Flag",
    "LBTOXGR": "Standard Toxicity Grade",
    "VISITNUM": "Visit Number",
    "LBDTC": "Date/Time of Specimen Collection",
    "LBDY": "Study Day of Specimen Collection",
}

# SDTMIG variables of type Num; every other variable is Char.
NUMERIC = {
    "AGE",
    "EXSEQ",
    "EXDOSE",
    "EXSTDY",
    "EXENDY",
    "LBSEQ",
    "LBSTRESN",
    "LBSTNRLO",
    "LBSTNRHI",
    "VISITNUM",
    "LBDY",
}


class XptError(ValueError):
    pass


# ---- reading ------------------------------------------------------------------------------


def columns(path) -> list[str]:
    """The variable names of an XPORT file, without reading its records."""
    _whole_cards(path)
    _, meta = _read(path, metadataonly=True)
    return list(meta.column_names)


def records(path):
    """Yield (record number, {VARIABLE: text}) for each record, numbered from 1, once the
    whole file is read and found whole."""
    _whole_cards(path)
    data, meta = _read(path)
    _all_records_read(path, meta)
    names = list(meta.column_names)
    values = [data[name] for name in names]
    for number, row in enumerate(zip(*values, strict=True), start=1):
        yield number, {name.upper(): text(value) for name, value in zip(names, row, strict=True)}


READ_ERRORS = (UnicodeError, pyreadstat.ReadstatError, pyreadstat.PyreadstatError)


def _read(path, **options):
    """pyreadstat's reader. XPORT records no encoding: text that is not UTF-8 is read again as
    Windows-1252, the usual encoding of SAS on Windows."""
    try:
        return _read_as(path, None, options)
    except READ_ERRORS as exc:
        if not isinstance(exc, UnicodeError) and "encod" not in str(exc).lower():
            raise XptError(f"not a readable SAS XPORT file ({_reason(exc)})") from None
    try:
        return _read_as(path, "WINDOWS-1252", options)
    except READ_ERRORS as exc:
        raise XptError(f"not a readable SAS XPORT file ({_reason(exc)})") from None


def _reason(exc):
    if isinstance(exc, UnicodeError):
        return "its headers or text are neither UTF-8 nor Windows-1252"
    text = str(exc)
    if "Unable to read from file" in text:
        return "it ends before its headers do: cut short?"
    if "Invalid file" in text:
        return "its headers (library, member or NAMESTR records) are damaged"
    return text


def _whole_cards(path):
    """XptError unless the file is whole 80-byte cards and holds one dataset."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            content = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
            members = _count(content, MEMBER_HEADER)
    except OSError as exc:
        raise XptError(exc.strerror or str(exc)) from None
    if size % CARD:
        raise XptError(
            f"cut short: its {size} bytes are not whole {CARD}-byte records, as every SAS "
            "transport file is"
        )
    if members > 1:
        raise XptError(f"holds {members} datasets; hepwatch reads one dataset a file")


def _count(content, needle):
    count, start = 0, content.find(needle)
    while start >= 0:
        count, start = count + 1, content.find(needle, start + 1)
    return count


def _all_records_read(path, meta):
    """XptError when pyreadstat read fewer records than the data after the OBS header holds:
    up to its last byte that is not a space (the last card is padded with spaces)."""
    length = sum(meta.variable_storage_width.values())
    with open(path, "rb") as handle:
        content = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        start = content.find(OBS_HEADER) + CARD
        if start < CARD or not length:
            raise XptError("it has no OBS header record: cut short before its records?")
        end = len(content)
        while end > start and not content[max(start, end - CARD) : end].strip(b" "):
            end = max(start, end - CARD)
        end = start + len(content[start:end].rstrip(b" "))
    held = -(-(end - start) // length)
    if meta.number_rows != held:
        raise XptError(
            f"damaged or cut short: pyreadstat read {meta.number_rows} records, but its data "
            f"holds {held}"
        )


def _read_as(path, encoding, options):
    try:
        return pyreadstat.read_xport(str(path), output_format="dict", encoding=encoding, **options)
    except OSError as exc:
        raise XptError(exc.strerror or str(exc)) from None


def text(value) -> str:
    """A value as a CSV cell would hold it."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if abs(value) < IBM_ZERO:
            return "0"
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{Decimal(repr(value)):f}"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value).strip()


# ---- writing ------------------------------------------------------------------------------


def write(domain, variables, rows, path):
    """Write one SDTM domain as XPORT v5: rows are dicts keyed by variable."""
    check(domain, variables, rows)
    frame = pd.DataFrame(
        {name: [_cell(name, row.get(name)) for row in rows] for name in variables},
        columns=list(variables),
    )
    for name in variables:
        frame[name] = frame[name].astype("float64" if name in NUMERIC else "object")
    pyreadstat.write_xport(
        frame,
        str(path),
        file_label=DATASET_LABELS.get(domain, domain),
        column_labels={name: LABELS.get(name, name) for name in variables},
        table_name=domain,
        file_format_version=5,
    )


def _cell(name, value):
    if name in NUMERIC:
        if value is None or value == "":
            return math.nan
        return float(Decimal(str(value)))
    return "" if value is None else str(value)


def check(domain, variables, rows):
    """XptError when a name, label or value does not fit XPORT v5."""
    if len(domain) > MAX_NAME:
        raise XptError(f"dataset name {domain!r} is longer than {MAX_NAME} characters")
    for name in variables:
        if len(name) > MAX_NAME or not name.isascii() or name.upper() != name:
            raise XptError(f"{domain}: variable name {name!r} is not 1-8 upper-case characters")
        if len(LABELS.get(name, name)) > MAX_LABEL:
            raise XptError(f"{domain}.{name}: label is longer than {MAX_LABEL} characters")
    for number, row in enumerate(rows, start=1):
        for name in variables:
            value = row.get(name)
            if name not in NUMERIC and value is not None:
                if len(str(value).encode("utf-8")) > MAX_TEXT:
                    raise XptError(f"{domain} row {number}: {name} is longer than {MAX_TEXT} bytes")
