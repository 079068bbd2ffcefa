"""Sign-in lockout, password strength, session and header hardening."""

import pytest
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

pytestmark = pytest.mark.django_db

PASSWORD = "a-Long-enough-pass-2026"


@pytest.fixture
def user():
    return User.objects.create_user("rita", password=PASSWORD)


def sign_in(client, password):
    return client.post("/login/", {"username": "rita", "password": password})


def test_five_failed_sign_ins_lock_the_account_even_with_the_right_password(client, user):
    for _ in range(5):
        assert sign_in(client, "wrong-password").status_code in (200, 429)
    response = sign_in(client, PASSWORD)
    assert response.status_code == 429
    assert b"Sign-in locked" in response.content
    assert "_auth_user_id" not in client.session


def test_a_successful_sign_in_resets_the_failure_count(client, user):
    for _ in range(4):
        sign_in(client, "wrong-password")
    assert sign_in(client, PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        sign_in(client, "wrong-password")
    assert sign_in(client, PASSWORD).status_code == 302


@pytest.mark.parametrize("weak", ["short-1", "password1234", "123456789012", "rita"])
def test_weak_passwords_are_refused(user, weak):
    with pytest.raises(ValidationError):
        validate_password(weak, user)


def test_pages_carry_a_content_security_policy_without_inline_script(client):
    policy = client.get("/login/")["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives["script-src"] == "'self'"
    assert directives["default-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in directives["script-src"]


def test_security_headers_are_set(client):
    response = client.get("/login/")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_sessions_expire_after_thirty_idle_minutes(settings):
    assert settings.SESSION_COOKIE_AGE == 1800 and settings.SESSION_SAVE_EVERY_REQUEST
    assert settings.SESSION_COOKIE_HTTPONLY


def test_wrong_signatures_count_towards_the_sign_in_lockout(client):
    from datetime import UTC, datetime

    from django.contrib.auth.models import Group

    from monitoring.evaluation import runner
    from monitoring.models import Alert, Decision
    from monitoring.services import lab_entry

    from .factories import make_subject, results

    reviewer = User.objects.create_user("rita", password=PASSWORD)
    reviewer.groups.add(Group.objects.get(name="safety_reviewer"))
    subject = make_subject()
    lab_entry.record_draw(subject, datetime(2026, 11, 20, 8, tzinfo=UTC), results(ALT=300))
    runner.evaluate_subjects([subject.pk])
    alert = Alert.objects.get(kind="withhold_dose")
    client.force_login(reviewer)
    decision = {"action": "withhold", "reason": "ALT 7x", "password": "wrong-password"}
    for _ in range(5):
        client.post(f"/alerts/{alert.pk}/", decision)
    client.post(f"/alerts/{alert.pk}/", {**decision, "password": PASSWORD})
    assert not Decision.objects.exists()
    client.logout()
    assert sign_in(client, PASSWORD).status_code == 429
