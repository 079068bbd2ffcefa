"""A reviewer reads a Tokyo site's draw in Tokyo time, with its zone, on the queue, the case
page, the dashboard and the subject's history, beside a New York site's rows in New York time
(in Debian's Chromium). Screenshots go to test-artifacts/."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from monitoring.models import Alert
from monitoring.services import lab_entry
from subjects import defaults

from .factories import make_subject, results
from .test_browser import shot, sign_in
from .world import make_user

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def subject_at(subject_id, code, time_zone, collected_at):
    subject = make_subject(subject_id, code, enrolled_on=(collected_at - timedelta(days=20)).date())
    subject.site.time_zone = time_zone
    subject.site.save()
    lab_entry.record_draw(subject, collected_at, results(ALT=250, AST=30, TBIL="0.6"))
    return subject


def test_a_reviewer_reads_each_sites_draw_in_its_own_clock(page, live_server):
    defaults.ensure_default_study()
    defaults.ensure_groups()
    collected = (timezone.now() - timedelta(days=2)).replace(hour=0, minute=30, second=0)
    collected = collected.replace(microsecond=0)
    tokyo = subject_at("MIP-701", "TYO", "Asia/Tokyo", collected)
    subject_at("MIP-801", "NYC", "America/New_York", collected)
    make_user("rita", "safety_reviewer", first_name="Rita", last_name="Reviewer")
    jst = f"{collected:%Y-%m-%d} 09:30 JST"
    sign_in(page, live_server.url, "rita")

    page.goto(f"{live_server.url}/alerts/")
    expect(page.locator('[data-case="MIP-701"]')).to_contain_text(jst)
    expect(page.locator('[data-case="MIP-801"]')).to_contain_text(
        f"{collected - timedelta(days=1):%Y-%m-%d}"
    )
    expect(page.locator('[data-case="MIP-801"]')).to_contain_text(" 19:30 E")  # EST or EDT
    shot(page, "site-time-queue")

    alert = Alert.objects.get(subject=tokyo, kind="withhold_dose")
    page.goto(f"{live_server.url}/alerts/{alert.pk}/")
    expect(page.get_by_role("heading", name=f"Case of the elevation of {jst}")).to_be_visible()
    expect(page.get_by_role("heading", name=f"Triggering draw, {jst}")).to_be_visible()
    shot(page, "site-time-case")

    page.goto(f"{live_server.url}/")
    expect(page.locator("#open-cases")).to_contain_text(jst)
    expect(page.get_by_text(f"Lab draw of {jst} entered")).to_be_visible()
    shot(page, "site-time-dashboard")

    page.goto(f"{live_server.url}/subjects/{tokyo.pk}/history/")
    expect(page.get_by_text(f"Lab draw of {jst}").first).to_be_visible()
    shot(page, "site-time-history")
