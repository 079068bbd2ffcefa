"""Exports from the Reports page: SDTM zipped and the audit trail, built as Celery tasks with
their progress, kept for the user who asked (a link that outlives the page), for monitors and
reviewers only."""

import csv
import io
import zipfile
from decimal import Decimal

import pytest
from django.urls import reverse

from monitoring.models import ExportJob
from monitoring.services import lab_entry
from subjects.models import Site

from .test_views import two_sites  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def ask(client, user, kind, data, capture):
    client.force_login(user)
    with capture(execute=True):
        response = client.post(reverse("export_job_new", args=[kind]), data)
    return response


def downloaded(client, response):
    assert response.status_code == 302, response.content[:500]
    page = client.get(response["Location"])
    assert page.status_code == 200
    job = page.context["job"]
    status = client.get(reverse("export_job_status", args=[job.pk])).json()
    assert (status["status"], status["progress"]) == ("done", 100), status
    file = client.get(status["download"])
    assert file.status_code == 200
    return job, b"".join(file.streaming_content)


def test_a_monitor_downloads_sdtm_zipped_with_country_from_the_site(
    client,
    two_sites,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    Site.objects.update(country="JPN")
    response = ask(
        client, two_sites["monitor"], "sdtm", {"format": "csv"}, django_capture_on_commit_callbacks
    )
    _, content = downloaded(client, response)
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert sorted(archive.namelist()) == ["dm.csv", "ex.csv", "lb.csv"]
        dm = list(csv.DictReader(io.StringIO(archive.read("dm.csv").decode("utf-8-sig"))))
    assert {r["SUBJID"]: r["COUNTRY"] for r in dm} == {"MIP-001": "JPN", "MIP-002": "JPN"}


def test_sdtm_without_a_sites_country_fails_the_job_with_the_reason(
    client,
    two_sites,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    response = ask(
        client, two_sites["reviewer"], "sdtm", {"format": "xpt"}, django_capture_on_commit_callbacks
    )
    job = ExportJob.objects.get()
    assert response["Location"] == reverse("export_job", args=[job.pk])
    status = client.get(reverse("export_job_status", args=[job.pk])).json()
    assert status["status"] == "failed" and "COUNTRY is required" in status["error"]
    assert client.get(reverse("export_job_download", args=[job.pk])).status_code == 404


def test_the_audit_trail_says_who_changed_what_from_what_to_what_and_why(
    client,
    two_sites,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    result = two_sites["result"]
    lab_entry.correct_result(
        result,
        value=Decimal("14.35"),
        reason="decimal point misplaced",
        user=two_sites["coordinator"],
    )
    response = ask(
        client,
        two_sites["reviewer"],
        "audit",
        {"subject_id": "MIP-001", "since": "2020-01-01", "until": ""},
        django_capture_on_commit_callbacks,
    )
    job, content = downloaded(client, response)
    assert job.filename.startswith("audit-trail-") and job.filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert {r["subject_id"] for r in rows} == {"MIP-001"}
    changed = [r for r in rows if r["reason"] == "decimal point misplaced"]
    (change,) = [r for r in changed if r["field"] == "value"]
    assert change["who"] and change["action"] == "changed"
    assert "143.5" in change["old"] and "14.35" in change["new"]


def test_an_audit_trail_after_the_last_change_is_empty(
    client,
    two_sites,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    response = ask(
        client,
        two_sites["monitor"],
        "audit",
        {"since": "2999-01-01"},
        django_capture_on_commit_callbacks,
    )
    _, content = downloaded(client, response)
    assert content.decode("utf-8-sig").strip().count("\n") == 0  # the header alone


def test_the_filters_are_checked_and_name_their_field(client, two_sites):  # noqa: F811
    client.force_login(two_sites["other_coordinator"])
    assert client.post(reverse("export_job_new", args=["audit"]), {}).status_code == 403
    client.force_login(two_sites["monitor"])
    response = client.post(
        reverse("export_job_new", args=["audit"]),
        {"subject_id": "NOPE", "since": "2026-02-01", "until": "2026-01-01"},
    )
    assert response.status_code == 400
    form = response.context["audit_form"]
    assert "No subject 'NOPE'" in form.errors["subject_id"][0]
    assert "before the start date" in form.errors["until"][0]
    assert ExportJob.objects.count() == 0


def test_a_job_is_the_askers_alone_and_listed_on_the_exports_page(
    client,
    two_sites,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    ask(client, two_sites["monitor"], "audit", {}, django_capture_on_commit_callbacks)
    job = ExportJob.objects.get()
    page = client.get(reverse("study_exports"))
    assert reverse("export_job_download", args=[job.pk]) in page.content.decode()
    client.force_login(two_sites["reviewer"])
    for name in ("export_job", "export_job_status", "export_job_download"):
        assert client.get(reverse(name, args=[job.pk])).status_code == 404, name
