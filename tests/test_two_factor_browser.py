"""Two-factor sign-in in a real browser: a safety reviewer's first sign-in enrols an app by its
QR code (the test reads the secret from the page's otpauth link, as the app would, and computes
the code), sees the recovery codes once and reaches the queue; a recovery code then signs in
once in place of the app. Each page passes axe-core. Screenshots go to test-artifacts/."""

import re
from base64 import b32decode
from urllib.parse import parse_qs, urlsplit

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from subjects import access

from .browser import sign_in
from .test_accessibility import blocking_violations
from .test_browser import shot
from .world import PASSWORD, make_user, second_factor, totp_code

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def enter_password(page, base, username):
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def sign_out(page):
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_a_reviewer_enrols_by_qr_code_then_a_recovery_code_signs_in_once(page, live_server):
    base, found = live_server.url, []
    make_user("rita", access.SAFETY_REVIEWER, first_name="Rita", last_name="Reviewer")

    # Straight to the queue: the password alone leads to enrolment, with no menu to go round it.
    page.goto(f"{base}/alerts/")
    page.get_by_label("Username").fill("rita")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Set up two-factor sign-in")).to_be_visible()
    qr = page.get_by_role("img", name=re.compile("QR code"))
    expect(qr).to_be_visible()
    drawn = qr.locator("svg path").bounding_box()  # drawn inline, not an empty box
    assert drawn["width"] > 150 and drawn["height"] > 150
    expect(page.get_by_role("link", name="Alerts")).to_have_count(0)
    shot(page, "two-factor-enrol")
    found += blocking_violations(page, "reviewer enrolling")

    otpauth = page.get_by_role("link", name="Open in an authenticator app").get_attribute("href")
    secret = parse_qs(urlsplit(otpauth).query)["secret"][0]
    assert page.locator("#two-factor-secret").inner_text().replace(" ", "") == secret
    code = page.get_by_label("Six-digit code from the app")
    code.fill("000000" if totp(b32decode(secret)) != 0 else "111111")
    page.get_by_role("button", name="Confirm and continue").click()
    expect(page.get_by_text("This code is wrong or has already been used.")).to_be_visible()
    page.wait_for_timeout(1100)  # the throttle's wait after one wrong code
    code.fill(f"{totp(b32decode(secret)):06d}")
    page.get_by_role("button", name="Confirm and continue").click()

    expect(page.get_by_role("heading", name="Two-factor sign-in is set up")).to_be_visible()
    codes = page.get_by_role("list", name="Recovery codes").locator("code").all_inner_texts()
    assert len(codes) == 10
    shot(page, "two-factor-recovery-codes")
    found += blocking_violations(page, "reviewer's recovery codes")
    page.get_by_role("link", name="Continue to hepwatch").click()
    expect(page.get_by_role("heading", name="Alerts queue")).to_be_visible()
    sign_out(page)

    # Next time: the code check, where a recovery code works in place of the app's code.
    enter_password(page, base, "rita")
    expect(page.get_by_role("heading", name="Enter your sign-in code")).to_be_visible()
    shot(page, "two-factor-verify")
    found += blocking_violations(page, "reviewer's code check")
    box = page.get_by_label("Code from your authenticator app, or a recovery code")
    box.fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.get_by_text("You signed in with a recovery code")).to_contain_text("9 left")
    sign_out(page)

    enter_password(page, base, "rita")
    box.fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_text("This code is wrong or has already been used.")).to_be_visible()
    found += blocking_violations(page, "reviewer's code refused")
    page.wait_for_timeout(1100)
    box.fill(totp_code(TOTPDevice.objects.get(user__username="rita")))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    sign_out(page)

    # The shared sign-in of every browser test does the same with the app's code.
    sign_in(page, base, "rita")
    page.get_by_role("link", name="Alerts", exact=True).first.click()
    expect(page.get_by_role("heading", name="Alerts queue")).to_be_visible()
    assert not found, "serious or critical axe-core violations:\n" + "\n".join(found)


def test_a_forgotten_password_is_asked_for_from_the_sign_in_page(page, live_server):
    make_user("chloe", access.COORDINATOR, email="chloe@example.org")
    page.goto(f"{live_server.url}/login/")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_role("heading", name="Reset your password")).to_be_visible()
    shot(page, "password-reset")
    found = blocking_violations(page, "anonymous, password reset")
    page.get_by_label("Email").fill("chloe@example.org")
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()
    assert not found, "\n".join(found)


def test_staff_reset_a_reviewers_two_factor_sign_in_from_the_admin(page, live_server):
    base = live_server.url
    rita = make_user("rita", access.SAFETY_REVIEWER)
    second_factor(rita)
    make_user("boss", is_staff=True, is_superuser=True)
    sign_in(page, base, "boss")
    page.goto(f"{base}/admin/auth/user/{rita.pk}/change/")
    shot(page, "two-factor-admin-user")
    page.locator("#content").get_by_role("link", name="TOTP devices").click()
    expect(page.get_by_text("Resetting two-factor sign-in:")).to_be_visible()
    page.locator("input[name=_selected_action]").first.check()
    page.get_by_label("Action:").select_option("delete_selected")
    page.get_by_role("button", name="Go").click()
    expect(page.get_by_text("At their next sign-in they are asked to enrol")).to_be_visible()
    shot(page, "two-factor-admin-reset")
    page.get_by_role("button", name=re.compile("Yes, I’m sure")).click()
    expect(page.get_by_text("Successfully deleted 1 TOTP device")).to_be_visible()
    page.get_by_role("button", name="Log out").click()

    enter_password(page, base, "rita")
    expect(page.get_by_role("heading", name="Set up two-factor sign-in")).to_be_visible()
