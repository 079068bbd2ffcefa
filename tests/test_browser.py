"""The day's work in a real browser (Playwright driving Debian's Chromium): a coordinator enters
a draw at 3.5× ULN and sees the alert; a reviewer finds its case at the top of the queue and
signs a withhold; the repeat comes back below 3×, and the case asks for a re-start decision;
the reviewer re-starts at the reduced regimen, which closes the case and which the dose form
then offers. Screenshots go to test-artifacts/."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from monitoring import tasks
from monitoring.evaluation import runner
from monitoring.models import Alert, Decision, SubjectSafetyState
from monitoring.services import lab_entry
from subjects import defaults
from subjects.models import Dose

from .browser import sign_in
from .factories import make_subject, results
from .world import PASSWORD, make_user

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
def study():
    # The migration's study, arms and groups, made again if a transactional test before this one
    # flushed them (get_or_create: a no-op when serialized rollback restored them).
    defaults.ensure_default_study()
    defaults.ensure_groups()
    now = timezone.now().replace(second=0, microsecond=0)
    coordinator = make_user(
        "chloe", "coordinator", first_name="Chloe", last_name="Coordinator", email="chloe@x.org"
    )
    make_user(
        "rita", "safety_reviewer", first_name="Rita", last_name="Reviewer", email="rita@x.org"
    )
    subject = make_subject("MIP-101", "S01", sex="M", enrolled_on=(now - timedelta(days=30)).date())
    subject.site.coordinators.add(coordinator)
    lab_entry.record_draw(
        subject, now - timedelta(days=28), results(ALT=25, AST=22, ALP=80, TBIL="0.6", LDLC=180)
    )
    Dose.objects.create(subject=subject, administered_at=now - timedelta(days=27), dose_mg=200)
    runner.evaluate_subjects([subject.pk])
    return {"subject": subject, "now": now}


def sign_out(page):
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_an_elevation_is_withheld_then_restarted_at_the_reduced_regimen_as_one_case(
    page, live_server, study
):
    base, subject, now = live_server.url, study["subject"], study["now"]

    # The coordinator signs in and enters a draw with ALT at 3.5× ULN (143.5 U/L, ULN 41).
    page.goto(f"{base}/login/")
    shot(page, "01-login")
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

    # The reviewer finds its case at the top of the queue and signs an acknowledgement: the
    # rules withhold dosing already (a withhold decision signed after the repeat was collected
    # would keep the subject withheld even once it came back below 3×).
    sign_in(page, base, "rita")
    shot(page, "06-dashboard-reviewer")
    page.get_by_role("link", name="Alerts", exact=True).first.click()
    case = page.locator("table.case-queue tbody tr").first
    expect(case).to_contain_text("MIP-101")
    expect(case).to_contain_text("Withhold dosing")
    shot(page, "07-alerts-queue")
    case.get_by_role("link", name=re.compile(r"Repeat ALT.AST due by")).click()
    expect(page.get_by_text("What happened")).to_be_visible()
    expect(page.locator("#alert-chart .main-svg").first).to_be_visible()
    expect(page.locator("#refused-actions")).to_contain_text("an elevation is still open")
    shot(page, "08-case-page")
    page.get_by_label("Acknowledge").check()
    page.get_by_label("Reason").fill("ALT 3.5× ULN: dosing withheld; repeat ALT/AST within 7 days")
    page.get_by_label("Your password (electronic signature)").fill(PASSWORD)
    page.get_by_role("button", name="Sign decision").click()
    expect(page.get_by_text("Decision signed for MIP-101: Acknowledge")).to_be_visible()
    expect(page.get_by_role("heading", name="Alerts queue")).to_be_visible()  # no next case
    shot(page, "09-decision-signed")
    decision = Decision.objects.get()
    assert decision.action == "acknowledge" and decision.reviewer.username == "rita"
    sign_out(page)

    # The repeat comes back below 3×: the subject stays withheld until a re-start is signed.
    sign_in(page, base, "chloe")
    page.goto(f"{base}/subjects/{subject.pk}/draws/new/")
    page.get_by_label("Collected at (UTC)").fill(
        (now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    )
    page.get_by_label("ALT value").fill("60")
    page.get_by_label("AST value").fill("28")
    page.get_by_role("button", name="Save draw").click()
    expect(page.locator("tr[data-alert-kind=eligible_reduced_dose]")).to_be_visible(timeout=20_000)
    expect(page.get_by_text("Withheld — re-start decision needed").first).to_be_visible()
    expect(page.get_by_text("Do not dose.")).to_be_visible()
    shot(page, "10-restart-pending")
    sign_out(page)

    # The reviewer re-starts at the reduced regimen; one signature closes the whole case.
    sign_in(page, base, "rita")
    page.get_by_role("link", name="Alerts", exact=True).first.click()
    case = page.locator("table.case-queue tbody tr").first
    case.get_by_role("link", name="Re-start decision needed").click()
    page.get_by_label("Resume at a reduced dose").check()
    page.get_by_label("Re-start on").select_option(label="70 mg three times weekly")
    page.get_by_label("Reason").fill("ALT back to 1.46× ULN; re-start at the reduced regimen")
    page.get_by_label("Your password (electronic signature)").fill(PASSWORD)
    shot(page, "11-restart-decision")
    page.get_by_role("button", name="Sign decision").click()
    expect(
        page.get_by_text(re.compile("Resume at a reduced dose \\(2 alerts answered\\)"))
    ).to_be_visible()
    case_alerts = Alert.objects.filter(subject=subject, case_at__isnull=False)
    assert set(case_alerts.values_list("status", flat=True)) == {"resolved"}
    assert all("Re-started at a reduced dose" in a.status_reason for a in case_alerts)
    assert SubjectSafetyState.objects.get(subject=subject).state == "weekly_monitoring"  # 1.46×
    sign_out(page)

    # The dose form offers the reduced regimen now in force.
    sign_in(page, base, "chloe")
    page.goto(f"{base}/subjects/{subject.pk}/")
    expect(page.locator("#regimen-in-force")).to_contain_text("70 mg three times weekly (reduced)")
    expect(page.locator("#dosing-now")).to_contain_text("May be dosed now")
    page.goto(f"{base}/subjects/{subject.pk}/doses/new/")
    expect(page.get_by_label("Dose (mg)")).to_have_value("70")
    expect(page.get_by_text("Regimen in force now: 70 mg three times weekly.")).to_be_visible()
    shot(page, "12-dose-form-reduced")
    assert Dose.objects.filter(subject=subject).count() == 1

    page.goto(f"{base}/subjects/{subject.pk}/history/")
    expect(page.get_by_text("Resume at a reduced dose").first).to_be_visible()
    shot(page, "13-history")
    page.goto(f"{base}/rules/")
    shot(page, "14-rules")


def test_subject_page_shows_new_alerts_without_a_manual_refresh(
    page, live_server, study, monkeypatch
):
    """While an evaluation is pending the page says so, polls, and shows the alert once the
    worker is done."""
    subject, now = study["subject"], study["now"]
    # A slow worker: the entry queues nothing; the test evaluates when it chooses.
    monkeypatch.setattr(tasks, "enqueue_evaluation", lambda subject_pks: None)
    lab_entry.record_draw(subject, now - timedelta(days=2), results(ALT=250, AST=30))
    sign_in(page, live_server.url, "chloe")
    page.goto(f"{live_server.url}/subjects/{subject.pk}/")
    expect(page.get_by_text("Evaluation pending.")).to_be_visible()
    shot(page, "15-evaluation-pending")
    runner.evaluate_subjects([subject.pk])
    expect(page.locator("tr[data-alert-kind=severe_elevation]")).to_be_visible(timeout=15_000)
    expect(page.get_by_text("Evaluation pending.")).to_have_count(0)
    shot(page, "16-evaluated")
