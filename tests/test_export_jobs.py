"""Exports from the Reports page: SDTM zipped and the audit trail, built as Celery tasks with
their progress, kept for the user who asked (a link that outlives the page), for monitors and
reviewers only."""

import csv
import io
import pathlib
import zipfile
from datetime import UTC, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from monitoring import tasks
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


def test_an_expired_export_is_deleted_with_its_file_and_its_link_answers_a_clear_page(
    client,
    two_sites,  # noqa: F811
    django_capture_on_commit_callbacks,
    settings,
):
    settings.HEPWATCH_EXPORT_RETENTION_DAYS = 7
    monitor = two_sites["monitor"]
    old_job, _ = downloaded(
        client, ask(client, monitor, "audit", {}, django_capture_on_commit_callbacks)
    )
    fresh_job, _ = downloaded(
        client, ask(client, monitor, "audit", {}, django_capture_on_commit_callbacks)
    )
    old_job.refresh_from_db()
    old_path = pathlib.Path(old_job.file.path)
    assert old_path.exists()
    ExportJob.objects.filter(pk=old_job.pk).update(
        created_at=timezone.now() - timedelta(days=7, minutes=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        tasks.delete_expired_exports.delay()  # what beat sends hourly
    beat = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert tasks.delete_expired_exports.name in beat
    assert not old_path.exists()
    assert list(ExportJob.objects.values_list("pk", flat=True)) == [fresh_job.pk]
    assert pathlib.Path(ExportJob.objects.get().file.path).exists()
    for name in ("export_job_download", "export_job"):
        gone = client.get(reverse(name, args=[old_job.pk]))
        assert gone.status_code == 404
        assert "This export is no longer kept" in gone.content.decode()
        assert "kept for 7 days" in gone.content.decode()
    status = client.get(reverse("export_job_status", args=[old_job.pk]))
    assert status.status_code == 404 and status.json()["status"] == "gone"


def test_an_export_whose_file_is_missing_answers_410_gone_not_a_500(
    client,
    two_sites,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    job, _ = downloaded(
        client,
        ask(client, two_sites["monitor"], "audit", {}, django_capture_on_commit_callbacks),
    )
    job.refresh_from_db()
    job.file.storage.delete(job.file.name)
    response = client.get(reverse("export_job_download", args=[job.pk]))
    assert response.status_code == 410
    assert "This export is no longer kept" in response.content.decode()


def test_the_exports_pages_say_until_when_a_download_is_kept(
    client,
    two_sites,  # noqa: F811
    django_capture_on_commit_callbacks,
    settings,
):
    settings.HEPWATCH_EXPORT_RETENTION_DAYS = 3
    job, _ = downloaded(
        client,
        ask(client, two_sites["monitor"], "audit", {}, django_capture_on_commit_callbacks),
    )
    until = f"{(job.created_at + timedelta(days=3)).astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    job_page = client.get(reverse("export_job", args=[job.pk])).content.decode()
    assert f"until {until}, then it is deleted" in job_page
    listing = client.get(reverse("study_exports")).content.decode()
    assert f"(kept until {until})" in listing
    assert "Each is kept 3 days after you ask for it" in listing
