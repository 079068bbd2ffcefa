"""WCAG 2.1 AA in a real browser (issue 17). axe-core (bundled by axe-playwright-python, run in
Debian's Chromium) checks every page of every role, on the demo's data and on a subject with
every alert kind, and no page may have a serious or critical violation. The Django admin
(/admin/) is Django's own and is left out; every other page a staff user reaches is checked.
A keyboard-only walk enters a draw, opens the case it raises, signs a decision and confirms a
dose given while withheld with Tab, Shift+Tab, Enter, Space and the arrow keys alone."""

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import expect

from monitoring import demo, rules
from monitoring.evaluation import runner
from monitoring.models import Alert, Decision, LabDraw, LabResult
from monitoring.services import data_queries, lab_entry
from subjects import defaults
from subjects.models import Dose, Subject

from .browser import sign_in
from .factories import make_subject, results
from .test_browser import PASSWORD, study  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = {"serious", "critical"}
AXE = Axe()
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def blocking_violations(page, who):
    """axe-core's serious and critical WCAG 2.1 A/AA violations on the page as it is now, one
    line each: who, page, rule, impact and the first offending elements. Every violation, with
    axe's explanation of each node, goes to test-artifacts/axe/."""
    page.wait_for_load_state("load")
    for chart in page.locator("[data-figure]").all():
        expect(chart.locator(".main-svg").first).to_be_attached()
    found = AXE.run(
        page,
        options={
            "runOnly": {"type": "tag", "values": WCAG_21_AA},
            "resultTypes": ["violations"],
        },
    )
    path = "/" + page.url.split("//", 1)[-1].split("/", 1)[-1]
    violations = found.response["violations"]
    if violations:
        (ARTIFACTS / "axe").mkdir(parents=True, exist_ok=True)
        name = "".join(c if c.isalnum() else "_" for c in f"{who} {path}")[:120]
        (ARTIFACTS / "axe" / f"{name}.json").write_text(json.dumps(violations, indent=1))
    return [
        f"{who} {path}: {v['id']} ({v['impact']}) ×{len(v['nodes'])}: "
        + "; ".join(str(node["target"]) for node in v["nodes"][:3])
        for v in violations
        if v["impact"] in BLOCKING
    ]


def subject_with_every_alert_kind():
    """MIP-900 at site S01: a dose before any baseline and off the regimen (R1, R11), a mild
    rise (R2), an episode at 6× with bilirubin 2.5× (R3, R5, R6), a dose while withheld (R9),
    a late repeat still ≥ 3× (R7, R4), the draw that ends it (R8), and no lab since (R10)."""
    now = timezone.now().replace(second=0, microsecond=0)
    subject = make_subject(
        "MIP-900", "S01", sex="M", enrolled_on=(now - timedelta(days=130)).date()
    )
    uln = 41

    def draw(days_ago, **values):
        at = now - timedelta(days=days_ago)
        lab_entry.record_draw(subject, at, results(**values), resulted_at=at + timedelta(hours=6))

    Dose.objects.create(subject=subject, administered_at=now - timedelta(days=120), dose_mg=150)
    draw(119, ALT=30, AST=25, ALP=80, TBIL="0.6")
    draw(112, ALT=2 * uln, AST=40)
    draw(105, ALT=6 * uln, AST=150, TBIL="3.0")
    Dose.objects.create(subject=subject, administered_at=now - timedelta(days=103), dose_mg=200)
    draw(90, ALT=4 * uln, AST=120)
    draw(80, ALT=2 * uln, AST=50)
    runner.evaluate_subjects([subject.pk])
    return subject


@pytest.fixture
def demo_world():
    """The demo study, not tests/world.py's: every page with every kind of alert on it."""
    defaults.ensure_default_study()
    defaults.ensure_groups()
    demo.seed(n_subjects=26)  # 13 a arm: each of the demo's stories at least once
    every = subject_with_every_alert_kind()
    kinds = set(Alert.objects.filter(subject=every).values_list("kind", flat=True))
    seed_kinds = set(rules.SEED.by_kind)  # the default study follows the seed guide
    assert kinds == seed_kinds, f"MIP-900 lacks {seed_kinds - kinds}"
    hys_law = Subject.objects.filter(alerts__kind="discontinue").exclude(pk=every.pk).first()
    case = Alert.objects.filter(subject=every, kind="withhold_dose").get()
    open_case = (
        Alert.objects.filter(case_at__isnull=False, status="open").exclude(subject=every).first()
    )
    draw = LabDraw.objects.filter(subject=every).latest("collected_at")
    result = LabResult.objects.filter(draw=draw, analyte="ALT").get()
    monitor = User.objects.get(username="monitor")
    query = data_queries.open_query(monitor, result, "ALT doubled in ten days: please check.")
    answered = data_queries.open_query(monitor, draw, "Was this draw taken fasting?")
    data_queries.answer(answered, User.objects.get(username="coordinator"), "Yes, fasting.")
    return {
        "every": every,
        "hys_law": hys_law,
        "case": case,
        "open_case": open_case,
        "draw": draw,
        "result": result,
        "query": query,
        "answered": answered,
    }


def lab_files(w):
    """Two lab files for the import's preview: one that changes a stored value (and asks why)
    beside a new draw, one with bad rows."""
    at = w["draw"].collected_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    later = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    header = "subject_id,collected_at,test,value,unit,uln\n"
    return {
        "changes": header + f"MIP-900,{at},ALT,90,U/L,\nMIP-900,{later},ALT,40,U/L,\n",
        "bad-rows": header + f"MIP-900,{later},ALT,forty,U/L,\nMIP-000,{later},XYZ,1,U/L,\n",
    }


def pages_of(role, w):
    """The pages a person in `role` reaches from the menu and the pages it links to."""
    every, hys_law = w["every"].pk, w["hys_law"].pk
    common = [
        "/",
        "/subjects/",
        "/subjects/?q=MIP-9",
        f"/subjects/{every}/",
        f"/subjects/{hys_law}/",
        f"/subjects/{every}/history/",
        f"/draws/{w['draw'].pk}/",
        "/alerts/",
        f"/alerts/{w['case'].pk}/",
        f"/alerts/{w['open_case'].pk}/",
        "/rules/",
        "/no-such-page/",
        "/queries/",
        "/queries/?status=all",
        f"/queries/{w['query'].pk}/",
        f"/queries/{w['answered'].pk}/",
    ]
    if role in ("coordinator", "admin"):
        common += [
            f"/subjects/{every}/draws/new/",
            f"/subjects/{every}/doses/new/",
            f"/results/{w['result'].pk}/correct/",
            "/labs/import/",
            f"/queries/{w['query'].pk}/correct/{w['result'].pk}/",
        ]
    if role in ("reviewer", "monitor", "admin"):
        common += ["/reports/", "/reports/exports/", f"/subjects/{every}/queries/new/"]
    if role == "coordinator":
        common += ["/reports/"]  # the 403 page
    return common


def test_every_page_of_every_role_has_no_serious_axe_violation(browser, live_server, demo_world):
    base = live_server.url
    found = []
    anonymous = browser.new_page()
    anonymous.goto(f"{base}/login/")
    found += blocking_violations(anonymous, "anonymous")
    anonymous.get_by_label("Username").fill("nobody")
    anonymous.get_by_role("button", name="Sign in").click()
    found += blocking_violations(anonymous, "anonymous, a wrong sign-in")
    anonymous.close()
    User.objects.filter(username="admin").update(first_name="Ada", last_name="Admin")
    for role, username in [
        ("coordinator", "coordinator"),
        ("reviewer", "reviewer"),
        ("monitor", "monitor"),
        ("admin", "admin"),
    ]:
        page = browser.new_page()
        sign_in(page, base, username, demo.DEMO_PASSWORD)
        for url in pages_of(role, demo_world):
            page.goto(base + url)
            found += blocking_violations(page, role)
        if role == "coordinator":
            page.goto(f"{base}/subjects/{demo_world['every'].pk}/draws/new/")
            page.get_by_role("button", name="Save draw").click()
            found += blocking_violations(page, f"{role}, draw errors")
            page.goto(f"{base}/subjects/{demo_world['every'].pk}/doses/new/")
            page.get_by_label("Dose (mg)").fill("150")
            page.get_by_role("button", name="Save dose").click()
            found += blocking_violations(page, f"{role}, dose to confirm")
            for name, rows in lab_files(demo_world).items():
                page.goto(f"{base}/labs/import/")
                page.get_by_label("Labs CSV file").set_input_files(
                    {"name": f"{name}.csv", "mimeType": "text/csv", "buffer": rows.encode()}
                )
                page.get_by_role("button", name="Upload and check").click()
                expect(page.get_by_role("heading", name=f"Check {name}.csv")).to_be_visible()
                found += blocking_violations(page, f"{role}, import preview of {name}")
        if role == "reviewer":
            page.goto(f"{base}/alerts/{demo_world['open_case'].pk}/")
            page.get_by_role("button", name="Sign decision").click()
            found += blocking_violations(page, f"{role}, decision errors")
        page.close()
    assert not found, "serious or critical axe-core violations:\n" + "\n".join(found)


# ---- the keyboard alone ---------------------------------------------------------------------


def focused(locator):
    return locator.evaluate("el => el === document.activeElement")


def tab_to(page, target, *, back=False, limit=150):
    """Tab (Shift+Tab with `back`) until `target` has the focus: it is reachable by keyboard."""
    for _ in range(limit):
        if focused(target):
            return
        page.keyboard.press("Shift+Tab" if back else "Tab")
    pytest.fail(f"{target} never got the focus in {limit} presses of Tab")


def arrow_to(page, radio, *, limit=12):
    """Arrow Down through a radio group (which selects as it moves) until `radio` is chosen."""
    for _ in range(limit):
        if focused(radio) and radio.is_checked():
            return
        page.keyboard.press("ArrowDown")
    pytest.fail(f"{radio} was never chosen with the arrow keys")


def type_moment(page, moment):
    """Into a focused datetime-local field (en-US: month, day, year, then hour, minute, AM/PM)."""
    page.keyboard.type(moment.strftime("%m%d%Y"))
    page.keyboard.press("ArrowRight")
    page.keyboard.type(moment.strftime("%I%M") + moment.strftime("%p")[0])


def keyboard_sign_out(page):
    tab_to(page, page.get_by_role("button", name="Sign out"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_a_draw_its_case_a_decision_and_a_dose_to_confirm_need_only_the_keyboard(
    browser,
    live_server,
    study,  # noqa: F811
):
    base, now = live_server.url, study["now"]
    context = browser.new_context(locale="en-US")  # the order of a datetime field's parts
    page = context.new_page()

    # The coordinator enters a draw with ALT at 3.5× ULN, known two days ago.
    sign_in(page, base, "chloe", keyboard=True)
    tab_to(page, page.get_by_role("link", name="Subjects", exact=True).first)
    page.keyboard.press("Enter")
    tab_to(page, page.get_by_role("link", name="MIP-101"))
    page.keyboard.press("Enter")
    tab_to(page, page.get_by_role("link", name="Enter lab draw"))
    page.keyboard.press("Enter")
    tab_to(page, page.get_by_label("Collected at (UTC)"))
    type_moment(page, now - timedelta(days=2))
    tab_to(page, page.get_by_label("Results known at (UTC)"))
    type_moment(page, now - timedelta(days=2) + timedelta(hours=6))
    tab_to(page, page.get_by_label("ALT value"))
    page.keyboard.type("143.5")
    tab_to(page, page.get_by_label("AST value"))
    page.keyboard.type("30")
    tab_to(page, page.get_by_role("button", name="Save draw"))
    page.keyboard.press("Enter")
    expect(page.locator("tr[data-alert-kind=withhold_dose]")).to_be_visible(timeout=20_000)
    summary = page.locator("#liver-chart-summary")
    assert page.locator("#liver-chart").get_attribute("aria-describedby") == "liver-chart-summary"
    expect(summary).to_contain_text("highest: 3.50× ULN (ALT)")
    expect(summary).to_contain_text("Dosing withheld from")
    # The chart's data as a table opens from the keyboard.
    tab_to(page, page.locator("#liver-chart-table > summary"))
    page.keyboard.press("Enter")
    expect(page.locator("#liver-chart-table table")).to_be_visible()
    expect(page.locator("#liver-chart-table tbody tr").last).to_contain_text("3.50×")
    keyboard_sign_out(page)

    # The reviewer opens the case from the queue and signs an acknowledgement.
    sign_in(page, base, "rita", keyboard=True)
    tab_to(page, page.get_by_role("link", name="Alerts", exact=True).first)
    page.keyboard.press("Enter")
    case = page.locator("table.case-queue tbody tr").first
    tab_to(page, case.get_by_role("link", name=re.compile(r"Repeat ALT.AST due by")))
    page.keyboard.press("Enter")
    expect(page.get_by_text("What happened")).to_be_visible()
    # Sent without a choice, the form comes back with the focus on its first error.
    tab_to(page, page.get_by_role("button", name="Sign decision"))
    page.keyboard.press("Enter")
    first_action = page.locator("#id_action input[type=radio]").first
    expect(first_action).to_be_focused()
    assert "id_action_errors" in page.locator("#id_action").get_attribute("aria-describedby")
    arrow_to(page, page.get_by_label("Acknowledge"))
    tab_to(page, page.get_by_label("Reason"))
    page.keyboard.type("ALT 3.5× ULN: dosing withheld; repeat ALT/AST within 7 days")
    tab_to(page, page.get_by_label("Your password (electronic signature)"))
    page.keyboard.type(PASSWORD)
    tab_to(page, page.get_by_role("button", name="Sign decision"))
    page.keyboard.press("Space")
    expect(page.get_by_text("Decision signed for MIP-101: Acknowledge")).to_be_visible()
    decision = Decision.objects.get()
    assert decision.action == "acknowledge" and decision.reviewer.username == "rita"
    keyboard_sign_out(page)

    # A dose given while withheld: the form asks to confirm it, with the focus on the question.
    sign_in(page, base, "chloe", keyboard=True)
    tab_to(page, page.get_by_role("link", name="Subjects", exact=True).first)
    page.keyboard.press("Enter")
    tab_to(page, page.get_by_role("link", name="MIP-101"))
    page.keyboard.press("Enter")
    tab_to(page, page.get_by_role("link", name="Record a dose given"))
    page.keyboard.press("Enter")
    tab_to(page, page.get_by_label("Administered at (UTC)"))
    type_moment(page, now - timedelta(days=1))
    tab_to(page, page.get_by_role("button", name="Save dose"))
    page.keyboard.press("Enter")
    confirm = page.get_by_label("I confirm this dose was given", exact=False)
    expect(confirm).to_be_focused()
    assert "R9" in page.locator("#dose-judgement legend").inner_text()
    page.keyboard.press("Space")
    expect(confirm).to_be_checked()
    tab_to(page, page.get_by_role("button", name="Record the dose as given"))
    page.keyboard.press("Enter")
    expect(page.get_by_text("Reviewers are alerted.")).to_be_visible()
    assert Dose.objects.filter(subject=study["subject"]).count() == 2
    context.close()
