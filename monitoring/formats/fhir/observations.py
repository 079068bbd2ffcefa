"""FHIR R4 Observations and Bundles read and checked, element by element, into readings;
the constants the feed and its CapabilityStatement share (codes systems, the symptoms
extension). Nothing here writes."""

import json
from dataclasses import dataclass, field
from decimal import Decimal

import pydantic
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation

from monitoring import units
from monitoring.formats import csv_import
from subjects import inputs

MAX_BYTES = 5 * 1024 * 1024
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
# The one place this URL is written: the feed reads it, metadata advertises it, README names it
# (tests/test_fhir.py holds the three together). A canonical name, never fetched.
SYMPTOMS_EXTENSION = "https://hepwatch.example/fhir/StructureDefinition/symptoms-of-liver-injury"
STATUSES = ("final", "amended", "corrected")
BUNDLE_TYPES = ("transaction", "batch")
ANALYTE_BY_LOINC = {code: a.code for a in units.ANALYTES.values() for code in a.loinc}
CHANGE_REASON = "FHIR"


@dataclass(frozen=True)
class Problem:
    """One OperationOutcome issue: where (a FHIRPath-like expression), what, and its code."""

    where: str
    message: str
    code: str = "invalid"  # FHIR issue-type: invalid, not-found, forbidden, too-long, ...

    def as_issue(self):
        return {
            "severity": "error",
            "code": self.code,
            "diagnostics": f"{self.where}: {self.message}" if self.where else self.message,
            "expression": [self.where] if self.where else [],
        }


class FhirError(Exception):
    """Input refused as a whole; its problems answer as one OperationOutcome."""

    def __init__(self, problems, status=400):
        super().__init__("; ".join(p.message for p in problems))
        self.problems, self.status = list(problems), status


def operation_outcome(problems):
    return {"resourceType": "OperationOutcome", "issue": [p.as_issue() for p in problems]}


@dataclass
class Reading:
    """An Observation read: the natural key, the result, and what goes with it."""

    entry: int  # the index of its Bundle entry (0 for a lone Observation)
    where: str
    subject_pk: int
    collected_at: object
    analyte: str
    value: Decimal
    unit: str
    uln: Decimal | None
    resulted_at: object = None
    symptoms: bool | None = None
    note: str = ""
    identifier: tuple | None = None


@dataclass
class Outcome:
    """Per entry: the problems found (none when it was written) and the result it names."""

    problems: dict = field(default_factory=dict)  # entry -> [Problem]
    written: dict = field(default_factory=dict)  # entry -> (status, LabResult pk or None)
    subjects: set = field(default_factory=set)

    def bad(self, entry, problem):
        self.problems.setdefault(entry, []).append(problem)


# ---- parsing ------------------------------------------------------------------------------


def parse_json(body: bytes) -> dict:
    """The request body as JSON, its numbers as exact decimals; FhirError otherwise."""
    if len(body) > MAX_BYTES:
        raise FhirError([Problem("", f"the body is over {MAX_BYTES // 1048576} MB", "too-long")])
    try:
        data = json.loads(body.decode("utf-8"), parse_float=Decimal)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FhirError([Problem("", f"the body is not JSON ({exc})", "structure")]) from None
    if not isinstance(data, dict):
        raise FhirError([Problem("", "the body is not a FHIR resource (a JSON object)")])
    return data


def location(root, loc) -> str:
    """('entry', 3, 'resource', 'valueQuantity') -> Bundle.entry[3].resource.valueQuantity"""
    text = root
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def validation_problems(error: pydantic.ValidationError, root):
    """(entry index or None, Problem) for each error pydantic found."""
    found = []
    for item in error.errors():
        loc = tuple(item["loc"])
        entry = loc[1] if len(loc) > 1 and loc[0] == "entry" and isinstance(loc[1], int) else None
        found.append((entry, Problem(location(root, loc), item["msg"])))
    return found


def read_bundle(data, scope, outcome: Outcome):
    """The Readings of a Bundle's entries; problems go to `outcome` by entry. FhirError when the
    Bundle itself is not one this endpoint takes."""
    if data.get("resourceType") != "Bundle":
        raise FhirError(
            [Problem("resourceType", "POST a Bundle here (Observations go to /Observation)")]
        )
    if data.get("type") not in BUNDLE_TYPES:
        raise FhirError(
            [
                Problem(
                    "Bundle.type", f"{data.get('type')!r} is not one of {', '.join(BUNDLE_TYPES)}"
                )
            ]
        )
    entries = data.get("entry")
    if not isinstance(entries, list) or not entries:
        raise FhirError([Problem("Bundle.entry", "the Bundle has no entries")])
    try:
        Bundle.model_validate(data)
    except pydantic.ValidationError as error:
        whole = []
        for entry, problem in validation_problems(error, "Bundle"):
            if entry is None:
                whole.append(problem)
            else:
                outcome.bad(entry, problem)
        if whole:
            raise FhirError(whole) from None
    readings = []
    for number, entry in enumerate(entries):
        if number in outcome.problems:
            continue
        where = f"Bundle.entry[{number}].resource"
        resource = entry.get("resource") or {}
        kind = resource.get("resourceType")
        if kind == "Observation":
            observations = [(where, resource)]
        elif kind == "DiagnosticReport":
            observations = [
                (f"{where}.contained[{i}]", r)
                for i, r in enumerate(resource.get("contained") or [])
                if r.get("resourceType") == "Observation"
            ]
        else:
            outcome.bad(number, Problem(f"{where}.resourceType", f"{kind!r} is not Observation"))
            continue
        for place, observation in observations:
            reading = read_observation(observation, place, number, scope, outcome)
            if reading is not None:
                readings.append(reading)
    return readings


def read_single(data, scope, outcome: Outcome):
    """The Reading of one Observation POSTed alone, as entry 0."""
    if data.get("resourceType") != "Observation":
        raise FhirError([Problem("resourceType", "POST an Observation here")])
    try:
        Observation.model_validate(data)
    except pydantic.ValidationError as error:
        raise FhirError([p for _, p in validation_problems(error, "Observation")]) from None
    reading = read_observation(data, "Observation", 0, scope, outcome)
    if reading is None:
        raise FhirError(outcome.problems[0])
    return [reading]


def read_observation(resource, where, entry, scope, outcome):
    """A Reading, or None with the problems added to `outcome` under `entry`."""
    problems = []

    def bad(path, message, code="invalid"):
        problems.append(Problem(f"{where}.{path}", message, code))

    if resource.get("status") not in STATUSES:
        bad("status", f"{resource.get('status')!r} is not one of {', '.join(STATUSES)}")
    subject_id = ((resource.get("subject") or {}).get("identifier") or {}).get("value")
    subject_pk = None
    if not isinstance(subject_id, str) or not subject_id.strip():
        bad("subject.identifier.value", "is missing: give the subject's ID", "required")
    else:
        subject_pk = scope.get(subject_id.strip())
        if subject_pk is None:
            bad("subject.identifier.value", f"unknown subject {subject_id!r}", "not-found")
    analyte = read_code(resource, bad)
    value, unit, uln = read_quantity(resource, analyte, bad)
    collected_at = read_moment(resource, "effectiveDateTime", bad, required=True)
    resulted_at = read_moment(resource, "issued", bad)
    if collected_at and resulted_at and resulted_at < collected_at:
        bad("issued", "is before effectiveDateTime")
    if problems:
        for problem in problems:
            outcome.bad(entry, problem)
        return None
    return Reading(
        entry,
        where,
        subject_pk,
        collected_at,
        analyte,
        value,
        unit,
        uln,
        resulted_at=resulted_at,
        symptoms=read_symptoms(resource),
        note=" ".join(
            n.get("text", "").strip() for n in resource.get("note") or [] if n.get("text")
        ).strip(),
        identifier=read_identifier(resource),
    )


def read_code(resource, bad):
    codings = (resource.get("code") or {}).get("coding") or []
    loinc = [c.get("code") for c in codings if c.get("system") == LOINC]
    for code in loinc:
        if code in ANALYTE_BY_LOINC:
            return ANALYTE_BY_LOINC[code]
    known = ", ".join(f"{c} ({a})" for c, a in ANALYTE_BY_LOINC.items())
    if not loinc:
        bad("code.coding", f"has no {LOINC} coding (use one of {known})")
    else:
        bad("code.coding", f"LOINC {', '.join(map(str, loinc))} is not a test here (use {known})")
    return None


def read_quantity(resource, analyte, bad):
    """(value, unit, ULN) of valueQuantity and referenceRange[0].high, or Nones."""
    quantity = resource.get("valueQuantity")
    if not isinstance(quantity, dict):
        bad("valueQuantity", "is missing: give the result as a Quantity", "required")
        return None, None, None
    unit = ucum_unit(quantity, analyte, "valueQuantity", bad)
    value = number(quantity, "valueQuantity.value", bad)
    uln = None
    ranges = resource.get("referenceRange") or []
    high = (ranges[0] or {}).get("high") if ranges else None
    if high is not None:
        uln = number(high, "referenceRange[0].high.value", bad)
        if "code" in high and unit and analyte and high.get("code") != unit:
            bad("referenceRange[0].high.code", f"{high.get('code')!r} differs from {unit!r}")
    if analyte and unit and value is not None:
        try:
            units.check_plausible(analyte, value, unit, uln)
        except units.LimitError as error:
            path = "valueQuantity.value" if error.field == "value" else "referenceRange[0].high"
            bad(path, error.message)
    return value, unit, uln


def ucum_unit(quantity, analyte, path, bad):
    system, code = quantity.get("system"), quantity.get("code")
    if system not in (None, UCUM):
        bad(f"{path}.system", f"{system!r} is not {UCUM}")
        return None
    if not code:
        bad(f"{path}.code", "is missing: give the UCUM unit code", "required")
        return None
    if analyte is None:
        return None
    allowed = units.ANALYTES[analyte].units
    if code not in allowed:
        bad(f"{path}.code", f"UCUM {code!r} does not fit {analyte} (use {', '.join(allowed)})")
        return None
    return code


def number(quantity, path, bad):
    raw = quantity.get("value")
    if raw is None:
        bad(path, "is missing", "required")
        return None
    try:
        return csv_import.parse_number(str(raw))
    except ValueError as exc:
        bad(path, str(exc))
        return None


def read_moment(resource, name, bad, *, required=False):
    raw = resource.get(name)
    if raw is None:
        if required:
            bad(name, "is missing: give the time the blood was drawn", "required")
        return None
    if not isinstance(raw, str) or "T" not in raw:
        bad(name, f"{raw!r} is not a date-time with a time of day")
        return None
    try:
        return inputs.parse_datetime(raw)
    except ValueError as exc:
        bad(name, str(exc))
        return None


def read_symptoms(resource):
    for extension in resource.get("extension") or []:
        if extension.get("url") == SYMPTOMS_EXTENSION:
            return bool(extension.get("valueBoolean"))
    return None


def read_identifier(resource):
    for identifier in resource.get("identifier") or []:
        if identifier.get("value"):
            return (identifier.get("system") or "", identifier["value"])
    return None


# ---- from Readings to draws ---------------------------------------------------------------
