"""A monitor downloads SDTM and the audit trail from the Reports page once the progress bar of
each export is full (in Debian's Chromium), the exports built by a real Celery worker from the
real Redis broker, as in production."""

import csv
import io
import zipfile
from datetime import timedelta

import pytest
from celery.signals import task_postrun
from playwright.sync_api import expect

from lib.processes import wait_until
from monitoring import tasks
from monitoring.models import ExportJob
from subjects.models import Site

from .browser import sign_in
from .test_browser import make_user, shot, study  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def builds():
    """(task id, ran eagerly) of each export build a worker finished during the test."""
    seen = []

    def record(sender=None, task_id=None, **kwargs):
        if sender is not None and sender.name == tasks.build_export.name:
            seen.append((task_id, bool(sender.request.is_eager)))

    task_postrun.connect(record, weak=False)
    yield seen
    task_postrun.disconnect(record)


def build_and_download(page, button):
    page.get_by_role("button", name=button).click()
    expect(page.locator("#export-progress")).to_have_attribute("value", "100", timeout=30_000)
    link = page.locator("#export-download")
    expect(link).to_be_visible()
    with page.expect_download() as info:
        link.click()
    return open(info.value.path(), "rb").read()


def read_csv(data: bytes):
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def test_a_monitor_downloads_sdtm_and_the_audit_trail_built_by_the_worker(
    page,
    live_server,
    celery_worker_thread,
    builds,
    study,  # noqa: F811
    settings,
    tmp_path,
):
    settings.MEDIA_ROOT = tmp_path
    Site.objects.update(country="GBR")
    make_user("max", "monitor", first_name="Max", last_name="Monitor")
    sign_in(page, live_server.url, "max")
    page.goto(f"{live_server.url}/reports/exports/")
    content = build_and_download(page, "Build SDTM")
    shot(page, "export-sdtm-done")
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert sorted(archive.namelist()) == ["dm.csv", "ex.csv", "lb.csv"]
        dm = read_csv(archive.read("dm.csv"))
        ex = read_csv(archive.read("ex.csv"))
        lb = read_csv(archive.read("lb.csv"))
    assert [(r["SUBJID"], r["SITEID"], r["COUNTRY"]) for r in dm] == [("MIP-101", "S01", "GBR")]
    assert [r["EXDOSE"] for r in ex] == ["200"]
    assert {r["LBTESTCD"] for r in lb} >= {"ALT", "AST", "ALP", "BILI"}
    assert {r["LBORRES"] for r in lb if r["LBTESTCD"] == "ALT"} == {"25"}

    page.goto(f"{live_server.url}/reports/exports/")
    page.get_by_label("Subject").fill("MIP-101")
    content = build_and_download(page, "Build audit trail")
    rows = read_csv(content)
    assert rows and {r["subject_id"] for r in rows} == {"MIP-101"}
    assert {r["action"] for r in rows} >= {"created"}
    assert any(r["record"].startswith("Lab draw of") for r in rows)
    assert any(r["record"].startswith("Dose of") and r["new"] == "200 mg" for r in rows)
    assert all(r["at"].endswith("Z") for r in rows)  # files stay in UTC

    jobs = ExportJob.objects.order_by("created_at")
    assert [(j.kind, j.status) for j in jobs] == [("sdtm", "done"), ("audit", "done")]
    assert len(builds) == 2 and not any(eager for _, eager in builds), builds
    page.goto(f"{live_server.url}/reports/exports/")
    expect(page.get_by_role("link", name="Download")).to_have_count(2)
    expect(page.get_by_text("kept until").first).to_be_visible()
    shot(page, "export-list")

    # A week later beat's cleanup has deleted the SDTM export; its old link says so.
    sdtm = jobs.get(kind="sdtm")
    ExportJob.objects.filter(pk=sdtm.pk).update(created_at=sdtm.created_at - timedelta(days=8))
    tasks.delete_expired_exports.delay()
    assert wait_until(lambda: not ExportJob.objects.filter(pk=sdtm.pk).exists())
    response = page.goto(f"{live_server.url}/reports/exports/jobs/{sdtm.pk}/download/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="This export is no longer kept")).to_be_visible()
    shot(page, "export-gone")
