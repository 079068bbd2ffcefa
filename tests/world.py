"""The tests' users and small study: make_user for every test, and build_world (the `world`
fixture of conftest.py) for the report, export, SDTM and web import tests, made through the
services the way users make it: two sites, a coordinator of each, a reviewer, a monitor, staff.
Those who need a second factor get an authenticator app (second_factor) whose codes the tests
compute (totp_code); SignInClient, the tests' `client`, passes that step in force_login."""

import time
from datetime import timedelta

from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from monitoring.evaluation import runner
from monitoring.models import Alert
from monitoring.services import lab_entry, review, two_factor
from subjects import access
from subjects.models import Dose

from .factories import make_subject, results

PASSWORD = "correct horse battery staple"
NOW = timezone.now().replace(microsecond=0, second=0, minute=0)


def at(days_ago, hour=8):
    return (NOW - timedelta(days=days_ago)).replace(hour=hour)


def make_user(username, group=None, **extra):
    user = User.objects.create_user(username, password=PASSWORD, **extra)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


def second_factor(user) -> TOTPDevice:
    """The user's enrolled authenticator app, enrolled now if they have none."""
    device = TOTPDevice.objects.devices_for_user(user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(
            user=user, name=two_factor.APP_DEVICE_NAME, confirmed=True
        )
    return device


def totp_code(device) -> str:
    """The code the user's app shows now, as django-otp computes it (django_otp.oath.TOTP), at
    a time step after the last one used: a code is accepted once, and a test signs in again
    within 30 seconds. Waits for the next step when the allowed ones are used up."""
    device.refresh_from_db()
    app = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    now = app.t()
    wanted = max(now, device.last_t + 1)
    if wanted > now + device.tolerance:
        time.sleep(device.step - (time.time() - device.t0) % device.step + 0.1)
        return totp_code(device)
    app.drift = device.drift + (wanted - now)
    return f"{app.token():0{device.digits}d}"


class SignInClient(Client):
    """The test client whose force_login also passes the second step for those who need it, as
    django_otp.login would: the session holds the verified device (DEVICE_ID_SESSION_KEY)."""

    def force_login(self, user, backend=None):
        super().force_login(user, backend)
        if access.needs_second_factor(user):
            session = self.session
            session[DEVICE_ID_SESSION_KEY] = second_factor(user).persistent_id
            session.save()


def build_world(capture):
    """`own` (site S01, Chloe's): baseline, weekly 200 mg, a 4× ALT with TBIL 2.5× and symptoms
    (R3, R5-free, R6), a signed decision. `other` (site S02, Olaf's): a quiet reduced-arm subject.
    `capture` is django_capture_on_commit_callbacks, so evaluation runs as it would."""
    coordinator = make_user("chloe", "coordinator", first_name="Chloe", last_name="Coord")
    other_coordinator = make_user("olaf", "coordinator")
    reviewer = make_user("rita", "safety_reviewer", first_name="Rita", last_name="Rev")
    monitor = make_user("max", "monitor")
    staff = make_user("sam", is_staff=True)
    enrolled = (NOW - timedelta(days=80)).date()
    own = make_subject("MIP-001", "S01", enrolled_on=enrolled)
    other = make_subject("MIP-002", "S02", sex="F", arm="reduced", enrolled_on=enrolled)
    own.site.coordinators.add(coordinator)
    other.site.coordinators.add(other_coordinator)
    with capture(execute=True):
        for subject in (own, other):
            lab_entry.record_draw(
                subject,
                at(70),
                results(ALT=20, AST=22, ALP=80, TBIL="0.5", LDLC=180, APOB=120),
            )
        for week in range(6):
            Dose.objects.create(subject=own, administered_at=at(69 - 7 * week, 10), dose_mg=200)
        for day in (69, 67, 65):
            Dose.objects.create(subject=other, administered_at=at(day, 10), dose_mg=70)
        lab_entry.record_draw(own, at(40), results(ALT=30, AST=25, TBIL="0.6", LDLC=140, APOB=90))
        lab_entry.record_draw(
            own, at(20), results(ALT=164, AST=60, ALP=90, TBIL="3.0"), symptoms=True
        )
        lab_entry.record_draw(other, at(20), results(ALT=25, AST=20, TBIL="0.4", LDLC=150))
        runner.mark_changed([own.pk, other.pk])
    discontinue = Alert.objects.get(subject=own, kind="discontinue")
    with capture(execute=True):
        review.record_decision(
            own,
            [discontinue],
            reviewer,
            "discontinue",
            "ALT 4× with bilirubin 2.5× and right upper quadrant pain: stop mipomersen.",
            PASSWORD,
        )
    return {
        "coordinator": coordinator,
        "other_coordinator": other_coordinator,
        "reviewer": reviewer,
        "monitor": monitor,
        "staff": staff,
        "own": own,
        "other": other,
    }
