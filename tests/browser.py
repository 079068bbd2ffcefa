"""Signing in through the browser, for every Playwright test: the password, then, for those who
need a second factor, the code of their authenticator app (tests/world.py totp_code)."""

from django.contrib.auth.models import User
from playwright.sync_api import expect

from subjects import access

from .world import PASSWORD, second_factor, totp_code


def sign_in(page, base, username, password=PASSWORD, *, keyboard=False):
    """Sign in at /login/ (by mouse, or with `keyboard` by the keyboard alone, checking the
    focus starts in the first field) and land on the dashboard."""
    user = User.objects.get(username=username)
    device = second_factor(user) if access.needs_second_factor(user) else None
    page.goto(f"{base}/login/")
    if keyboard:
        expect(page.get_by_label("Username")).to_be_focused()  # autofocus
        page.keyboard.type(username)
        page.keyboard.press("Tab")
        page.keyboard.type(password)
        page.keyboard.press("Enter")
    else:
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
    if device is not None:
        expect(page.get_by_role("heading", name="Enter your sign-in code")).to_be_visible()
        code = page.get_by_label("Code from your authenticator app, or a recovery code")
        if keyboard:
            expect(code).to_be_focused()  # autofocus
            page.keyboard.type(totp_code(device))
            page.keyboard.press("Enter")
        else:
            code.fill(totp_code(device))
            page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
