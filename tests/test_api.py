"""The read API: its OpenAPI schema validates, and every endpoint answers every role, by session
and by bearer token, with the subjects, alerts, cases and decisions of the sites it may see."""

import io

import pytest
import yaml
from django.core.management import call_command
from django.urls import reverse

from .test_views import two_sites  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

ROLES = ("coordinator", "other_coordinator", "reviewer", "monitor")
LISTS = ("api_subject-list", "api_alert-list", "api_case-list")


def token_for(user):
    out = io.StringIO()
    call_command("create_api_token", user.username, stdout=out)
    return out.getvalue().strip().splitlines()[-1]


def as_token(client, user):
    client.logout()
    token = token_for(user)
    return lambda url: client.get(url, headers={"Authorization": f"Bearer {token}"})


def as_session(client, user):
    client.logout()
    client.force_login(user)
    return client.get


def subject_ids(body):
    rows = body["results"] if isinstance(body, dict) and "results" in body else body
    return {row["subject_id"] for row in rows}


def test_the_openapi_schema_validates_and_names_every_endpoint(client, two_sites):  # noqa: F811
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    served = as_session(client, two_sites["monitor"])(reverse("api_schema"))
    assert served.status_code == 200
    schema = yaml.safe_load(served.content)
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) == {
        "/api/v1/subjects/",
        "/api/v1/subjects/{id}/",
        "/api/v1/alerts/",
        "/api/v1/alerts/{id}/",
        "/api/v1/cases/",
    }
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_the_docs_page_is_served_from_our_own_static_files(client, two_sites):  # noqa: F811
    page = as_session(client, two_sites["monitor"])(reverse("api_docs"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn" not in html.lower() and "<script>" not in html


@pytest.mark.parametrize("login", [as_session, as_token])
@pytest.mark.parametrize("role", ROLES)
def test_every_endpoint_shows_each_role_the_sites_it_may_see(client, two_sites, role, login):  # noqa: F811
    get = login(client, two_sites[role])
    own, other = two_sites["own"], two_sites["other"]
    sees_own = role != "other_coordinator"
    sees_other = role != "coordinator"
    for name in LISTS:
        response = get(reverse(name))
        assert response.status_code == 200, (name, role)
        ids = subject_ids(response.json())
        assert ("MIP-001" in ids) == sees_own, name
        assert "MIP-002" not in ids or sees_other, name
    subjects = subject_ids(get(reverse("api_subject-list")).json())
    assert subjects == {s.subject_id for s, seen in ((own, sees_own), (other, sees_other)) if seen}
    detail = get(reverse("api_subject-detail", args=[own.pk]))
    assert detail.status_code == (200 if sees_own else 404)
    alert = get(reverse("api_alert-detail", args=[two_sites["alert"].pk]))
    assert alert.status_code == (200 if sees_own else 404)


def test_a_subject_shows_its_state_and_the_regimen_in_force(client, two_sites):  # noqa: F811
    body = as_session(client, two_sites["reviewer"])(
        reverse("api_subject-detail", args=[two_sites["own"].pk])
    ).json()
    assert body["state"] == "withheld"
    assert body["regimen"]["code"] == "standard"
    assert body["regimen"]["dose_mg"] == "200.00"


def test_a_case_holds_its_alerts_and_their_decisions(client, two_sites):  # noqa: F811
    from monitoring.models import Decision

    alert = two_sites["alert"]
    decision = Decision.objects.create(
        subject=two_sites["own"],
        reviewer=two_sites["reviewer"],
        action="withhold",
        reason="confirmed by phone",
        signed_at=alert.opened_at,
        signature_meaning="reviewed",
    )
    decision.alerts.add(alert)
    cases = as_token(client, two_sites["reviewer"])(reverse("api_case-list")).json()
    case = next(c for c in cases if c["subject_id"] == "MIP-001")
    by_kind = {a["kind"]: a for a in case["alerts"]}
    assert by_kind["withhold_dose"]["decisions"][0]["reason"] == "confirmed by phone"
    assert by_kind["withhold_dose"]["decisions"][0]["reviewer"] == "rita"


def test_without_a_session_or_a_live_token_the_api_answers_401(client, two_sites):  # noqa: F811
    for name in (*LISTS, "api_schema"):
        assert client.get(reverse(name)).status_code == 401
        wrong = client.get(reverse(name), headers={"Authorization": "Bearer guessed"})
        assert wrong.status_code == 401
