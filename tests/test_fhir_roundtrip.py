"""The same generated study (SI units, reported ULNs, result times, a correction), its labs
posted as FHIR transaction Bundles in one fresh database and imported as CSV in another, gives
the same `export_alerts` output.

The CSV import reads subjects, doses, labs and decisions and evaluates once, at the end. The
feed is evaluated on each commit, and an alert that a later arrival takes away is retracted, not
deleted (DESIGN section 1). So the lab system sends each subject's whole lab history in one
Bundle, before the site records doses and decisions: every evaluation on the way then sees a
subject's labs complete, and opens only alerts that the complete study opens too."""

import csv
import io
import json
from datetime import UTC

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command

from monitoring import units
from monitoring.formats.fhir import observations
from monitoring.models import LabResult
from subjects import inputs
from subjects.models import Site

from .factories import wipe_study_data
from .synthetic import DEFAULT_AS_OF, write_study

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

SUBJECTS_PER_BUNDLE = 3


def instant(text):
    return inputs.parse_datetime(text).astimezone(UTC).isoformat().replace("+00:00", "Z")


def as_observation(row, note=""):
    """A labs.csv row as the Observation a lab system would send for it."""
    test = row["test"].strip().upper()
    resource = {
        "resourceType": "Observation",
        "status": "corrected" if note else "final",
        "code": {"coding": [{"system": observations.LOINC, "code": units.ANALYTES[test].loinc[0]}]},
        "subject": {"identifier": {"value": row["subject_id"]}},
        "effectiveDateTime": instant(row["collected_at"]),
        "valueQuantity": {
            "value": row["value"],
            "system": observations.UCUM,
            "code": units.normalise_unit(test, row["unit"]),
        },
    }
    if row["uln"].strip():
        resource["referenceRange"] = [{"high": {"value": row["uln"]}}]
    if row.get("resulted_at", "").strip():
        resource["issued"] = instant(row["resulted_at"])
    if row.get("symptoms", "").strip():
        resource["extension"] = [
            {
                "url": observations.SYMPTOMS_EXTENSION,
                "valueBoolean": inputs.parse_bool(row["symptoms"]),
            }
        ]
    if note:
        resource["note"] = [{"text": note}]
    return resource


def bundles(rows):
    """Transaction Bundles of whole lab histories, SUBJECTS_PER_BUNDLE subjects each."""
    by_subject = {}
    for row in rows:
        by_subject.setdefault(row["subject_id"], []).append(row)
    ids = sorted(by_subject)
    for start in range(0, len(ids), SUBJECTS_PER_BUNDLE):
        yield {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "resource": as_observation(row),
                    "request": {"method": "POST", "url": "Observation"},
                }
                for subject_id in ids[start : start + SUBJECTS_PER_BUNDLE]
                for row in by_subject[subject_id]
            ],
        }


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def corrected(rows):
    """The study's correction: its first ALT in U/L, four times what was first sent."""
    row = next(r for r in rows if r["test"] == "ALT" and r["unit"] == "U/L")
    return {**row, "value": str(int(row["value"]) * 4)}


def alerts_export(tmp_path, name):
    call_command("evaluate", "--all", as_of=DEFAULT_AS_OF.isoformat())
    out = tmp_path / f"{name}.csv"
    call_command("export_alerts", output=str(out))
    return out.read_text(encoding="utf-8")


@pytest.fixture
def study(tmp_path):
    User.objects.create_user("dr_reviewer", password="x").groups.add(
        Group.objects.get(name="safety_reviewer")
    )
    return write_study(tmp_path, 2026, 40)


def test_a_study_posted_as_fhir_gives_the_alerts_of_the_same_study_imported_as_csv(
    client, tmp_path, study
):
    subjects, doses, labs, decisions = (str(p) for p in study)
    rows = read_csv(labs)
    correction = corrected(rows)
    assert any(r["uln"] for r in rows) and any(r["unit"] == "ukat/L" for r in rows)
    assert any(r["resulted_at"] for r in rows)

    call_command("import_csv", subjects=subjects, doses=doses, labs=labs, decisions=decisions)
    fixed = tmp_path / "labs-fixed.csv"
    with open(fixed, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerow(correction)
    call_command("import_csv", labs=str(fixed), reason="transcription typo")
    from_csv = alerts_export(tmp_path, "csv")

    wipe_study_data()
    call_command("import_csv", subjects=subjects)
    lab_system = User.objects.create_user("central_lab", password="x")
    lab_system.groups.add(Group.objects.get(name="coordinator"))
    for site in Site.objects.all():
        site.coordinators.add(lab_system)
    out = io.StringIO()
    call_command("create_api_token", "central_lab", stdout=out)
    token = out.getvalue().strip().splitlines()[-1]

    def post(payload):
        response = client.post(
            "/fhir/r4/",
            json.dumps(payload),
            content_type="application/fhir+json",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.content[:2000]

    for payload in bundles(rows):
        post(payload)
    call_command("import_csv", doses=doses, decisions=decisions)
    post(
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"resource": as_observation(correction, note="transcription typo")}],
        }
    )
    from_fhir = alerts_export(tmp_path, "fhir")
    fixed_result = LabResult.history.filter(history_change_reason="transcription typo").latest(
        "history_date"
    )
    assert str(fixed_result.value.normalize()) == correction["value"]

    assert from_csv.count("\n") > 40
    assert from_fhir == from_csv
