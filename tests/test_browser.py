"""The day's work in a real browser (Playwright driving Debian's Chromium): a coordinator enters
a draw at 3.5× ULN and sees the alert; a reviewer finds it at the top of the queue and signs a
withhold decision; the dose form then refuses a dose. Screenshots go to test-artifacts/."""

import re
from datetime import timedelta
from importlib import import_module
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group, User
from django.utils import timezone
from playwright.sync_api import expect

from monitoring import services
from monitoring.models import Decision
from subjects.models import Dose

from .factories import make_subject, results

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
PASSWORD = "hepwatch-test-pass"


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def make_user(username, group, full_name):
    first, last = full_name.split()
    user = User.objects.create_user(
        username, password=PASSWORD, first_name=first, last_name=last, email=f"{username}@x.org"
    )
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def study():
    # The migration's study, arms and groups, made again if a transactional test before this one
    # flushed them (get_or_create: a no-op when serialized rollback restored them).
    seed = import_module("subjects.migrations.0002_default_study")
    seed.create_default_study(django_apps, None)
    seed.create_groups(django_apps, None)
    now = timezone.now().replace(second=0, microsecond=0)
    coordinator = make_user("chloe", "coordinator", "Chloe Coordinator")
    make_user("rita", "safety_reviewer", "Rita Reviewer")
    subject = make_subject("MIP-101", "S01", sex="M", enrolled_on=(now - timedelta(days=30)).date())
    subject.site.coordinators.add(coordinator)
    services.record_draw(
        subject, now - timedelta(days=28), results(ALT=25, AST=22, ALP=80, TBIL="0.6", LDLC=180)
    )
    Dose.objects.create(subject=subject, administered_at=now - timedelta(days=27), dose_mg=200)
    services.evaluate_subjects([subject.pk])
    return {"subject": subject, "now": now}


def sign_in(page, base, username):
    page.goto(f"{base}/login/")
    shot(page, "01-login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def sign_out(page):
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_coordinator_enters_an_elevation_and_reviewer_withholds_dosing(page, live_server, study):
    base, subject, now = live_server.url, study["subject"], study["now"]

    # The coordinator signs in and enters a draw with ALT at 3.5× ULN (143.5 U/L, ULN 41).
    sign_in(page, base, "chloe")
    shot(page, "02-dashboard-coordinator")
    page.get_by_role("link", name="Subjects", exact=True).first.click()
    shot(page, "03-subjects")
    page.get_by_role("link", name="MIP-101").click()
    expect(page.get_by_role("heading", name=re.compile("MIP-101"))).to_be_visible()
    page.get_by_role("link", name="Enter lab draw").click()
    shot(page, "04-draw-form")
    collected = (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label("Collected at (UTC)").fill(collected)
    page.get_by_label("ALT value").fill("143.5")
    page.get_by_label("AST value").fill("30")
    page.get_by_role("button", name="Save draw").click()

    # Back on the subject page the withhold_dose alert appears (polled in if still pending).
    alert_row = page.locator("tr[data-alert-kind=withhold_dose]")
    expect(alert_row).to_be_visible(timeout=20_000)
    expect(alert_row).to_contain_text("3.50× ULN")
    expect(page.get_by_text("Do not dose.")).to_be_visible()
    expect(page.locator("#liver-chart .main-svg").first).to_be_visible()
    shot(page, "05-subject-with-alert")
    sign_out(page)

    # The reviewer finds it at the top of the queue and signs a withhold decision.
    sign_in(page, base, "rita")
    shot(page, "06-dashboard-reviewer")
    page.get_by_role("link", name="Alerts", exact=True).first.click()
    first_row = page.locator("table.alert-queue tbody tr").first
    expect(first_row).to_contain_text("withhold_dose")
    expect(first_row).to_contain_text("MIP-101")
    shot(page, "07-alerts-queue")
    first_row.get_by_role("link", name=re.compile("withhold_dose")).click()
    expect(page.get_by_text("What happened")).to_be_visible()
    expect(page.locator("#alert-chart .main-svg").first).to_be_visible()
    shot(page, "08-alert-page")
    page.get_by_label("Withhold dosing").check()
    page.get_by_label("Reason").fill("ALT 3.5× ULN: withhold and repeat ALT/AST within 7 days")
    page.get_by_label("Your password (electronic signature)").fill(PASSWORD)
    page.get_by_role("button", name="Sign decision").click()
    expect(page.get_by_text("Decision signed: Withhold dosing.")).to_be_visible()
    shot(page, "09-decision-signed")
    decision = Decision.objects.get()
    assert decision.action == "withhold" and decision.reviewer.username == "rita"
    sign_out(page)

    # The dose form now refuses a dose, with the reason.
    sign_in(page, base, "chloe")
    page.goto(f"{base}/subjects/{subject.pk}/doses/new/")
    expect(page.locator("#dosing-block")).to_contain_text("Dosing is not allowed")
    page.get_by_label("Administered at (UTC)").fill(now.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Save dose").click()
    expect(page.get_by_text(re.compile("Dose refused"))).to_be_visible()
    shot(page, "10-dose-refused")
    assert Dose.objects.filter(subject=subject).count() == 1

    page.goto(f"{base}/subjects/{subject.pk}/history/")
    expect(page.get_by_text("Withhold dosing").first).to_be_visible()
    shot(page, "11-history")
    page.goto(f"{base}/rules/")
    shot(page, "12-rules")


def test_subject_page_shows_new_alerts_without_a_manual_refresh(
    page, live_server, study, monkeypatch
):
    """While an evaluation is pending the page says so, polls, and shows the alert once the
    worker is done."""
    subject, now = study["subject"], study["now"]
    # A slow worker: the entry queues nothing; the test evaluates when it chooses.
    monkeypatch.setattr(services, "enqueue_evaluation", lambda subject_pks: None)
    services.record_draw(subject, now - timedelta(days=2), results(ALT=250, AST=30))
    sign_in(page, live_server.url, "chloe")
    page.goto(f"{live_server.url}/subjects/{subject.pk}/")
    expect(page.get_by_text("Evaluation pending.")).to_be_visible()
    shot(page, "13-evaluation-pending")
    services.evaluate_subjects([subject.pk])
    expect(page.locator("tr[data-alert-kind=severe_elevation]")).to_be_visible(timeout=15_000)
    expect(page.get_by_text("Evaluation pending.")).to_have_count(0)
    shot(page, "14-evaluated")
