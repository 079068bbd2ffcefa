"""Two-factor sign-in with django-otp: enrolling an authenticator app (TOTP), its one-time
recovery codes (static tokens), and checking a code at sign-in, throttled after wrong codes."""

from dataclasses import dataclass

import django_otp
from django.db import transaction
from django.utils import timezone
from django_otp.models import VerifyNotAllowed
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

APP_DEVICE_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"
RECOVERY_CODES = 10


@dataclass(frozen=True)
class Outcome:
    """A code's check: the device that accepted it, or why none did."""

    device: object = None
    refusal: str = ""


def is_enrolled(user) -> bool:
    """An authenticator app confirmed with a first code. Recovery codes alone are not enough: a
    user whose app staff deleted enrols a new one."""
    return TOTPDevice.objects.devices_for_user(user, confirmed=True).exists()


def pending_app(user) -> TOTPDevice:
    """The authenticator app being enrolled: its secret stays the same across reloads of the
    enrolment page until a first code confirms it."""
    device = TOTPDevice.objects.devices_for_user(user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=APP_DEVICE_NAME, confirmed=False)
    return device


def confirm_app(user, code) -> tuple[Outcome, list[str]]:
    """Confirm the pending app with its first code; on success, replace any earlier recovery codes
    by new ones, returned to be shown once."""
    with transaction.atomic():
        device = pending_app(user)
        outcome = check(user, device, code)
        if outcome.device is None:
            return outcome, []
        device.refresh_from_db()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        StaticDevice.objects.filter(user=user).delete()
        recovery = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE_NAME)
        codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
        StaticToken.objects.bulk_create(StaticToken(device=recovery, token=c) for c in codes)
    return Outcome(device=device), codes


def verify(user, code) -> Outcome:
    """A six-digit code is checked against the user's app, anything else against their recovery
    codes (eight characters, each of which then stops working)."""
    code = normalise(code)
    if len(code) == 6 and code.isdigit():
        device = TOTPDevice.objects.devices_for_user(user, confirmed=True).first()
    else:
        device = StaticDevice.objects.devices_for_user(user, confirmed=True).first()
    if device is None:
        return Outcome(refusal="This code is neither a code from your app nor a recovery code.")
    return check(user, device, code)


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def normalise(code) -> str:
    """Codes are typed with spaces or dashes, recovery codes in capitals too."""
    return "".join(ch for ch in str(code) if ch.isalnum()).lower()


def check(user, device, code) -> Outcome:
    """The device's own throttle first (django-otp: after n wrong codes the next try must wait
    2^(n-1) seconds), then the code, in one transaction that locks the device."""
    allowed, why = device.verify_is_allowed()
    if not allowed:
        if why and why.get("reason") == VerifyNotAllowed.N_FAILED_ATTEMPTS:
            wait = max(1, int((why["locked_until"] - timezone.now()).total_seconds()) + 1)
            return Outcome(
                refusal=f"Too many wrong codes ({why['failure_count']}): wait {wait} seconds "
                "before the next try."
            )
        return Outcome(refusal="Checking codes is switched off for now: try again later.")
    accepted = django_otp.verify_token(user, device.persistent_id, normalise(code))
    if accepted is None:
        return Outcome(refusal="This code is wrong or has already been used.")
    return Outcome(device=accepted)
