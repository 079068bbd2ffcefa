"""A monitor downloads SDTM and the audit trail from the Reports page once the progress bar of
each export is full (in Debian's Chromium)."""

import csv
import io
import zipfile

import pytest
from playwright.sync_api import expect

from subjects.models import Site

from .browser import sign_in
from .test_browser import make_user, study  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def build_and_download(page, button):
    page.get_by_role("button", name=button).click()
    expect(page.locator("#export-progress")).to_have_attribute("value", "100", timeout=20_000)
    link = page.locator("#export-download")
    expect(link).to_be_visible()
    with page.expect_download() as info:
        link.click()
    return open(info.value.path(), "rb").read()


def test_a_monitor_downloads_sdtm_and_the_audit_trail_from_the_reports_page(
    page,
    live_server,
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
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert sorted(archive.namelist()) == ["dm.csv", "ex.csv", "lb.csv"]
    page.goto(f"{live_server.url}/reports/exports/")
    page.get_by_label("Subject").fill("MIP-101")
    content = build_and_download(page, "Build audit trail")
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows and {r["subject_id"] for r in rows} == {"MIP-101"}
    page.goto(f"{live_server.url}/reports/exports/")
    expect(page.get_by_role("link", name="Download")).to_have_count(2)
