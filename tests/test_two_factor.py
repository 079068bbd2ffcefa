"""Two-factor sign-in (django-otp): safety reviewers, unblinded users and staff enrol an
authenticator app by QR code at their first sign-in and enter a code at each one after; until
then they reach nothing else. Recovery codes work once each, wrong codes are throttled, the
sign-in lockout still comes first, and staff reset it in the admin. Coordinators and monitors
sign in with their password alone. Password reset by e-mail is for everyone."""

import re
import time
from base64 import b32decode
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Group, User
from django.core import mail
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from monitoring.evaluation import runner
from monitoring.models import Alert, Decision
from monitoring.services import lab_entry
from subjects import access

from .factories import make_subject, results
from .world import PASSWORD, make_user, second_factor, totp_code

pytestmark = pytest.mark.django_db

VERIFY = reverse("two_factor_verify")
ENROL = reverse("two_factor_enrol")
CODE_LABEL = "Code from your authenticator app, or a recovery code"


def sign_in(client, username, password=PASSWORD, **extra):
    return client.post(reverse("login"), {"username": username, "password": password, **extra})


def enter(client, code, url=VERIFY, **extra):
    return client.post(url, {"code": code, **extra})


def secret_on_the_page(page):
    """The secret, read as an authenticator app reads it: from the otpauth URL of the page."""
    url = unescape(re.search(r'href="(otpauth://totp/[^"]+)"', page).group(1))
    assert url.startswith("otpauth://totp/hepwatch%3A")
    return b32decode(parse_qs(urlsplit(url).query)["secret"][0])


def enrol(client):
    """Enrol as a user would: scan, type the app's code; the recovery codes page follows."""
    key = secret_on_the_page(client.get(ENROL).content.decode())
    response = enter(client, f"{totp(key):06d}", ENROL)
    assert response.status_code == 302
    return client.get(response["Location"]).content.decode()


@pytest.fixture
def reviewer():
    return make_user("rita", access.SAFETY_REVIEWER, email="rita@example.org")


@pytest.fixture
def alert():
    subject = make_subject()
    lab_entry.record_draw(subject, datetime(2026, 11, 20, 8, tzinfo=UTC), results(ALT=300))
    runner.evaluate_subjects([subject.pk])
    return Alert.objects.get(kind="withhold_dose")


def test_who_needs_a_second_factor():
    coordinator = make_user("chloe", access.COORDINATOR)
    monitor = make_user("max", access.MONITOR)
    reviewer = make_user("rita", access.SAFETY_REVIEWER)
    staff = make_user("sam", is_staff=True)
    unblinded = make_user("stan")
    unblinded.groups.add(Group.objects.get_or_create(name=access.UNBLINDED)[0])
    assert not access.needs_second_factor(coordinator)
    assert not access.needs_second_factor(monitor)
    assert access.needs_second_factor(reviewer)
    assert access.needs_second_factor(staff)
    assert access.needs_second_factor(unblinded)


def test_a_reviewer_without_a_second_factor_cannot_reach_the_queue(client, reviewer, alert):
    assert sign_in(client, "rita")["Location"] == reverse("dashboard")
    response = client.get(reverse("alerts"))
    assert response.status_code == 302
    assert response["Location"] == VERIFY + "?next=%2Falerts%2F"
    # Not enrolled yet: the code check sends them on to enrolment, keeping where they were going.
    response = client.get(response["Location"])
    assert response["Location"] == ENROL + "?next=%2Falerts%2F"
    for url in (
        reverse("dashboard"),
        reverse("subjects"),
        reverse("alert", args=[alert.pk]),
        reverse("study_report"),
        "/api/v1/alerts/",
        "/admin/",
    ):
        assert client.get(url).status_code == 302, url
        assert client.get(url)["Location"].startswith(VERIFY), url


def test_a_reviewer_without_a_second_factor_cannot_sign_a_decision(client, reviewer, alert):
    second_factor(reviewer)
    sign_in(client, "rita")
    decision = {"action": "withhold", "reason": "ALT 7x ULN", "password": PASSWORD}
    response = client.post(reverse("alert", args=[alert.pk]), decision)
    assert response.status_code == 302 and response["Location"].startswith(VERIFY)
    assert not Decision.objects.exists()


def test_a_coordinator_signs_in_without_a_second_factor(client):
    make_user("chloe", access.COORDINATOR)
    assert sign_in(client, "chloe")["Location"] == reverse("dashboard")
    response = client.get(reverse("dashboard"))
    assert response.status_code == 200 and b"<h1" in response.content
    assert client.get(VERIFY)["Location"] == reverse("dashboard")
    assert not TOTPDevice.objects.exists()


def test_enrolment_by_qr_code_confirms_the_app_then_shows_the_recovery_codes_once(client, reviewer):
    sign_in(client, "rita")
    page = client.get(ENROL).content.decode()
    assert re.search(r'<svg [^>]*><path d="M[0-9,HVMz]{200,}', page)  # the QR code, inline
    assert 'role="img" aria-label="QR code' in page
    key = secret_on_the_page(page)
    # Reloading the page keeps the secret the app may already have scanned.
    assert secret_on_the_page(client.get(ENROL).content.decode()) == key

    wrong = enter(client, f"{(totp(key) + 1) % 1_000_000:06d}", ENROL)
    assert wrong.status_code == 200 and "This code is wrong" in wrong.content.decode()
    assert not TOTPDevice.objects.filter(confirmed=True).exists()
    time.sleep(1.1)  # the throttle's wait after one wrong code

    response = enter(client, f"{totp(key):06d}", ENROL)
    assert response["Location"] == reverse("two_factor_recovery_codes")
    page = client.get(response["Location"]).content.decode()
    codes = re.findall(r"<li class=\"col\"><code>([a-z2-7]{8})</code></li>", page)
    assert len(codes) == 10 and "only time they are shown" in page
    assert sorted(codes) == sorted(StaticToken.objects.values_list("token", flat=True))
    again = client.get(reverse("two_factor_recovery_codes")).content.decode()
    assert not any(code in again for code in codes) and "10</strong> unused codes left" in again

    assert client.get(reverse("alerts")).status_code == 200
    device = TOTPDevice.objects.get(user=reviewer)
    assert device.confirmed and device.bin_key == key


def test_a_recovery_code_signs_in_once_in_place_of_a_code(client, reviewer):
    sign_in(client, "rita")
    page = enrol(client)
    code = re.findall(r"<code>([a-z2-7]{8})</code>", page)[0]
    client.logout()

    sign_in(client, "rita")
    response = enter(client, code.upper()[:4] + "-" + code.upper()[4:])  # as typed from paper
    assert response["Location"] == reverse("dashboard")
    page = client.get(response["Location"]).content.decode()
    assert "signed in with a recovery code" in page and "9 left" in page
    client.logout()

    sign_in(client, "rita")
    refused = enter(client, code)
    assert refused.status_code == 200
    assert "wrong or has already been used" in refused.content.decode()
    assert client.get(reverse("alerts"))["Location"].startswith(VERIFY)


def test_each_sign_in_asks_for_a_code_from_the_app_and_goes_on_where_it_was_going(client, reviewer):
    device = second_factor(reviewer)
    response = sign_in(client, "rita", next=reverse("alerts"))
    response = client.get(response["Location"])
    assert response["Location"] == VERIFY + "?next=%2Falerts%2F"
    page = client.get(response["Location"]).content.decode()
    assert CODE_LABEL in page and 'autocomplete="one-time-code"' in page
    assert 'href="/alerts/"' not in page  # no menu before the second step
    response = enter(client, totp_code(device), next=reverse("alerts"))
    assert response["Location"] == reverse("alerts")
    assert client.get(reverse("alerts")).status_code == 200


def test_wrong_codes_are_throttled(client, reviewer, settings):
    assert settings.OTP_TOTP_THROTTLE_FACTOR == 1 and settings.OTP_STATIC_THROTTLE_FACTOR == 1
    settings.OTP_TOTP_THROTTLE_FACTOR = 30  # a wait no slow machine outlasts between requests
    device = second_factor(reviewer)
    sign_in(client, "rita")
    assert "This code is wrong" in enter(client, "000000").content.decode()
    # The right code, too soon after a wrong one, is refused without being checked.
    page = enter(client, totp_code(device)).content.decode()
    assert re.search(r"Too many wrong codes \(1\): wait (29|30|31) seconds", page)
    device.refresh_from_db()
    assert device.throttling_failure_count == 1
    assert client.get(reverse("alerts")).status_code == 302
    # Once the wait is over, the right code passes and the count starts again.
    device.throttling_failure_timestamp -= timedelta(seconds=31)
    device.save()
    assert enter(client, totp_code(device))["Location"] == reverse("dashboard")
    device.refresh_from_db()
    assert device.throttling_failure_count == 0


def test_the_sign_in_lockout_still_comes_before_the_second_step(client, reviewer):
    second_factor(reviewer)
    for _ in range(5):
        sign_in(client, "rita", "wrong-password")
    response = sign_in(client, "rita")
    assert response.status_code == 429 and b"Sign-in locked" in response.content
    assert "_auth_user_id" not in client.session
    assert client.get(VERIFY)["Location"].startswith(reverse("login"))


def test_an_enrolled_app_is_not_replaced_with_a_password_alone(client, reviewer):
    device = second_factor(reviewer)
    sign_in(client, "rita")
    assert client.get(ENROL)["Location"] == VERIFY
    assert enter(client, "123456", ENROL)["Location"] == VERIFY
    assert list(TOTPDevice.objects.filter(user=reviewer)) == [device]


def test_staff_reset_in_the_admin_makes_the_user_enrol_again(client, reviewer):
    sign_in(client, "rita")
    first_codes = re.findall(r"<code>([a-z2-7]{8})</code>", enrol(client))
    client.logout()
    boss = make_user("boss", is_staff=True, is_superuser=True)
    client.force_login(boss)  # staff pass their own second step (tests/world.py SignInClient)
    totp_admin = reverse("admin:otp_totp_totpdevice_changelist")
    page = client.get(totp_admin).content.decode()
    assert "At their next sign-in they are asked to enrol a new app" in page
    user_page = client.get(reverse("admin:auth_user_change", args=[reviewer.pk])).content
    assert b"to make rita enrol a new authenticator app" in user_page
    for changelist, model in (
        (totp_admin, TOTPDevice),
        (reverse("admin:otp_static_staticdevice_changelist"), StaticDevice),
    ):
        chosen = list(model.objects.filter(user=reviewer).values_list("pk", flat=True))
        form = {"action": "delete_selected", "_selected_action": chosen}
        confirm = client.post(changelist, form).content.decode()
        assert "At their next sign-in they are asked to enrol a new app" in confirm
        client.post(changelist, {**form, "post": "yes"})
    assert not TOTPDevice.objects.filter(user=reviewer).exists()
    assert not StaticDevice.objects.filter(user=reviewer).exists()
    client.logout()

    sign_in(client, "rita")
    response = client.get(reverse("alerts"))
    assert client.get(response["Location"])["Location"].startswith(ENROL)
    new_codes = re.findall(r"<code>([a-z2-7]{8})</code>", enrol(client))
    assert len(new_codes) == 10 and not set(new_codes) & set(first_codes)
    assert client.get(reverse("alerts")).status_code == 200


def test_the_admin_never_shows_a_users_secret(client, reviewer):
    device = second_factor(reviewer)
    client.force_login(make_user("boss", is_staff=True, is_superuser=True))
    page = client.get(reverse("admin:otp_totp_totpdevice_change", args=[device.pk])).content
    assert device.key.encode() not in page


def test_a_forgotten_password_is_reset_by_a_link_sent_by_email(client, reviewer, settings):
    settings.HEPWATCH_BASE_URL = "https://hepwatch.example.org"
    assert reverse("password_reset") in client.get(reverse("login")).content.decode()
    response = client.post(reverse("password_reset"), {"email": "rita@example.org"})
    assert response["Location"] == reverse("password_reset_done")
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["rita@example.org"]
    link = re.search(r"https://hepwatch\.example\.org(/password-reset/\S+/)", mail.outbox[0].body)
    response = client.get(link.group(1))  # Django moves the token out of the URL into the session
    page = client.get(response["Location"]).content.decode()
    assert "Choose a new password" in page
    new = "a-New-and-long-pass-2027"
    response = client.post(response["Location"], {"new_password1": new, "new_password2": new})
    assert response["Location"] == reverse("password_reset_complete")
    assert "Your password is changed" in client.get(response["Location"]).content.decode()

    assert sign_in(client, "rita", PASSWORD).status_code == 200  # the old one no longer works
    assert sign_in(client, "rita", new)["Location"] == reverse("dashboard")
    # The new password is the first factor only.
    assert client.get(reverse("alerts"))["Location"].startswith(VERIFY)
    # The link works once.
    assert "This link no longer works" in client.get(link.group(1), follow=True).content.decode()


def test_a_password_reset_for_an_unknown_address_sends_nothing_and_says_the_same(client):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.org"}, follow=True)
    assert "Check your e-mail" in response.content.decode() and not mail.outbox


def test_the_tests_client_passes_the_second_step_for_those_who_need_it(client, reviewer):
    client.force_login(reviewer)
    assert client.get(reverse("alerts")).status_code == 200
    assert TOTPDevice.objects.get(user=User.objects.get(username="rita")).confirmed
