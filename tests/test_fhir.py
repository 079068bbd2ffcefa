"""The FHIR R4 lab feed, driven over HTTP as a lab system would: bearer tokens, Bundles and
Observations in, draws and results written (or nothing, with an OperationOutcome naming each
element), idempotent, corrections only with a note, evaluation queued on commit."""

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from monitoring.formats.fhir import observations
from monitoring.models import Alert, LabDraw, LabResult
from subjects.api_tokens import ApiToken

from .factories import make_subject

pytestmark = pytest.mark.django_db


def make_user(username, role):
    user = User.objects.create_user(username, password="x")
    user.groups.add(Group.objects.get(name=role))
    return user


def token_for(username):
    out = io.StringIO()
    call_command("create_api_token", username, stdout=out)
    return out.getvalue().strip().splitlines()[-1]


@pytest.fixture
def feed(client):
    """Chloe coordinates site S01 (subject MIP-001); Olaf site S02 (MIP-002). Chloe's lab
    system posts with her token."""
    chloe, olaf = make_user("chloe", "coordinator"), make_user("olaf", "coordinator")
    own, other = make_subject("MIP-001", "S01"), make_subject("MIP-002", "S02")
    own.site.coordinators.add(chloe)
    other.site.coordinators.add(olaf)
    token = token_for("chloe")

    def post(payload, path="/fhir/r4/", token=token, raw=None):
        body = raw if raw is not None else json.dumps(payload)
        return client.post(
            path,
            body,
            content_type="application/fhir+json",
            headers={"Authorization": f"Bearer {token}"} if token else {},
        )

    return {"post": post, "own": own, "other": other, "token": token}


def observation(
    subject="MIP-001",
    loinc="1742-6",
    value=150,
    unit="U/L",
    at="2026-03-02T09:30:00+02:00",
    **extra,
):
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"identifier": {"value": subject}},
        "effectiveDateTime": at,
        "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": unit},
    }
    resource.update(extra)
    return resource


def bundle(*resources, kind="transaction"):
    return {
        "resourceType": "Bundle",
        "type": kind,
        "entry": [
            {"resource": r, "request": {"method": "POST", "url": r["resourceType"]}}
            for r in resources
        ],
    }


def issues(response):
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    return [
        (i["expression"][0] if i["expression"] else "", i["diagnostics"]) for i in body["issue"]
    ]


def test_create_api_token_prints_the_token_alone_on_its_last_line_and_stores_only_its_hash(db):
    make_user("chloe", "coordinator")
    raw = token_for("chloe")
    assert len(raw) > 30 and " " not in raw
    stored = ApiToken.objects.get()
    assert stored.hashed != raw and raw not in stored.hashed


def test_a_transaction_of_observations_writes_one_draw_per_subject_and_time(feed):
    response = feed["post"](
        bundle(
            observation(loinc="1742-6", value=150, referenceRange=[{"high": {"value": 40}}]),
            observation(loinc="1920-8", value="0.5", unit="ukat/L"),
            observation(loinc="1975-2", value=17, unit="umol/L", issued="2026-03-02T15:00:00Z"),
        )
    )
    assert response.status_code == 400  # one draw, one issued time: entry 2 differs
    assert LabResult.objects.count() == 0
    response = feed["post"](
        bundle(
            observation(
                loinc="1742-6",
                value=150,
                referenceRange=[{"high": {"value": 40}}],
                issued="2026-03-02T15:00:00Z",
            ),
            observation(
                loinc="1920-8", value="0.5", unit="ukat/L", issued="2026-03-02T16:00:00+01:00"
            ),
        )
    )
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["type"] == "transaction-response"
    assert [e["response"]["status"] for e in answer["entry"]] == ["201 Created"] * 2
    draw = LabDraw.objects.get()
    assert draw.collected_at == datetime(2026, 3, 2, 7, 30, tzinfo=UTC)
    assert draw.resulted_at == datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    alt, ast = draw.results.order_by("analyte")
    assert (alt.analyte, alt.uln, alt.uln_multiple) == ("ALT", 40, 3.75)
    assert (ast.analyte, ast.value_canonical) == ("AST", 30)


def test_an_entered_draw_is_evaluated_once_the_transaction_commits(
    feed, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = feed["post"](bundle(observation(value=150), observation(loinc="1920-8")))
    assert response.status_code == 200
    assert Alert.objects.filter(subject=feed["own"], kind="withhold_dose").exists()


def test_one_observation_posted_alone_is_created(feed):
    response = feed["post"](observation(value=30), path="/fhir/r4/Observation")
    assert response.status_code == 201, response.content
    assert response["Location"] == f"Observation/{LabResult.objects.get().pk}"


def test_a_transaction_with_one_bad_entry_writes_nothing_and_names_the_element(feed):
    response = feed["post"](
        bundle(observation(), observation(loinc="1920-8"), observation(unit="mg/dL"))
    )
    assert response.status_code == 400
    assert issues(response)[0][0] == "Bundle.entry[2].resource.valueQuantity.code"
    assert "does not fit ALT" in issues(response)[0][1]
    assert LabDraw.objects.count() == 0


def test_a_batch_writes_its_good_entries_and_answers_each_bad_one(feed):
    response = feed["post"](bundle(observation(), observation(loinc="9999-9"), kind="batch"))
    assert response.status_code == 200
    entries = response.json()["entry"]
    assert entries[0]["response"]["status"] == "201 Created"
    assert entries[1]["response"]["status"] == "400 Bad Request"
    issue = entries[1]["response"]["outcome"]["issue"][0]
    assert issue["expression"] == ["Bundle.entry[1].resource.code.coding"]
    assert LabResult.objects.get().analyte == "ALT"


HOSTILE = {
    "wrong LOINC": (
        lambda: bundle(observation(loinc="2345-7")),
        "Bundle.entry[0].resource.code.coding",
    ),
    "wrong UCUM code": (
        lambda: bundle(observation(unit="mmol/L")),
        "Bundle.entry[0].resource.valueQuantity.code",
    ),
    "missing subject": (
        lambda: bundle({k: v for k, v in observation().items() if k != "subject"}),
        "Bundle.entry[0].resource.subject.identifier.value",
    ),
    "another site's subject": (
        lambda: bundle(observation(subject="MIP-002")),
        "Bundle.entry[0].resource.subject.identifier.value",
    ),
    "an unknown subject": (
        lambda: bundle(observation(subject="NOPE-9")),
        "Bundle.entry[0].resource.subject.identifier.value",
    ),
    "a value past the plausibility limits": (
        lambda: bundle(observation(value=900000)),
        "Bundle.entry[0].resource.valueQuantity.value",
    ),
    "a value that is not a decimal": (
        lambda: bundle(observation(value="abc")),
        "Bundle.entry[0].resource.valueQuantity.value",
    ),
    "a collection time in the future": (
        lambda: bundle(observation(at="2999-01-01T00:00:00Z")),
        "Bundle.entry[0].resource.effectiveDateTime",
    ),
    "a result known before the blood was drawn": (
        lambda: bundle(observation(issued="2026-03-01T00:00:00Z")),
        "Bundle.entry[0].resource.issued",
    ),
    "a Patient instead of an Observation": (
        lambda: bundle({"resourceType": "Patient"}),
        "Bundle.entry[0].resource.resourceType",
    ),
    "a history Bundle": (lambda: bundle(observation(), kind="history"), "Bundle.type"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_bundle_gets_a_4xx_operation_outcome_and_writes_nothing(feed, name):
    payload, where = HOSTILE[name]
    response = feed["post"](payload())
    assert 400 <= response.status_code < 500
    assert where in [expression for expression, _ in issues(response)], issues(response)
    assert LabDraw.objects.count() == 0


def test_another_sites_subject_is_answered_like_an_unknown_one(feed):
    theirs = issues(feed["post"](bundle(observation(subject="MIP-002"))))[0][1]
    unknown = issues(feed["post"](bundle(observation(subject="MIP-00X"))))[0][1]
    assert theirs.replace("MIP-002", "?") == unknown.replace("MIP-00X", "?")


def test_broken_json_and_a_10_mb_body_get_operation_outcomes(feed):
    broken = feed["post"](None, raw='{"resourceType": "Bundle", ')
    assert broken.status_code == 400 and "not JSON" in issues(broken)[0][1]
    huge = feed["post"](None, raw=" " * (10 * 1024 * 1024))
    assert huge.status_code == 413 and issues(huge)
    assert LabDraw.objects.count() == 0


def test_no_token_a_wrong_token_or_a_revoked_one_is_401(feed):
    assert feed["post"](bundle(observation()), token="").status_code == 401
    assert feed["post"](bundle(observation()), token="guess").status_code == 401
    ApiToken.objects.update(revoked_at=datetime.now(UTC))
    assert feed["post"](bundle(observation())).status_code == 401
    assert LabDraw.objects.count() == 0


def test_a_token_of_a_user_who_may_not_enter_labs_is_403(feed):
    make_user("rita", "safety_reviewer")
    response = feed["post"](bundle(observation()), token=token_for("rita"))
    assert response.status_code == 403 and issues(response)


def test_posting_the_same_bundle_twice_changes_nothing(feed):
    payload = bundle(observation(identifier=[{"system": "urn:lab", "value": "obs-1"}]))
    assert feed["post"](payload).status_code == 200
    again = feed["post"](payload)
    assert again.json()["entry"][0]["response"]["status"] == "200 OK"
    assert LabResult.objects.count() == 1
    assert LabResult.history.count() == 1


def test_a_changed_value_needs_a_note_as_its_reason(feed):
    feed["post"](bundle(observation(value=150)))
    refused = feed["post"](bundle(observation(value=15)))
    assert refused.status_code == 400
    assert issues(refused)[0][0] == "Bundle.entry[0].resource.note"
    assert LabResult.objects.get().value == 150
    corrected = feed["post"](bundle(observation(value=15, note=[{"text": "transcription typo"}])))
    assert corrected.status_code == 200
    result = LabResult.objects.get()
    assert result.value == 15
    assert result.history.first().history_change_reason == "transcription typo"


def test_an_identifier_cannot_move_to_another_result(feed):
    ident = [{"system": "urn:lab", "value": "obs-1"}]
    feed["post"](bundle(observation(identifier=ident)))
    moved = feed["post"](bundle(observation(identifier=ident, at="2026-03-03T09:00:00Z")))
    assert moved.status_code == 400
    assert issues(moved)[0][0] == "Bundle.entry[0].resource.identifier"
    assert LabDraw.objects.count() == 1


def test_a_diagnostic_report_groups_its_contained_observations(feed):
    report = {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "code": {"text": "Liver panel"},
        "contained": [
            {**observation(), "id": "alt"},
            {**observation(loinc="1920-8", value=35), "id": "ast"},
        ],
        "result": [{"reference": "#alt"}, {"reference": "#ast"}],
    }
    response = feed["post"](bundle(report))
    assert response.status_code == 200, response.content
    assert sorted(LabResult.objects.values_list("analyte", flat=True)) == ["ALT", "AST"]


def test_metadata_answers_a_capability_statement(client):
    response = client.get("/fhir/r4/metadata")
    assert response.status_code == 200
    body = response.json()
    assert body["resourceType"] == "CapabilityStatement"
    assert body["fhirVersion"] == "4.0.1"


def test_the_symptoms_extension_is_one_url_read_by_the_feed_advertised_and_documented(client):
    body = client.get("/fhir/r4/metadata").json()
    CapabilityStatement.model_validate(body)
    (observation,) = [r for r in body["rest"][0]["resource"] if r["type"] == "Observation"]
    assert observations.SYMPTOMS_EXTENSION in observation["documentation"]
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert f"`{observations.SYMPTOMS_EXTENSION}`" in readme
    flagged = {"extension": [{"url": observations.SYMPTOMS_EXTENSION, "valueBoolean": True}]}
    assert observations.read_symptoms(flagged) is True
