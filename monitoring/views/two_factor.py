"""The second step of signing in: enrol an authenticator app by QR code, see the recovery codes
once, and enter a code at each sign-in (config.middleware sends those who need it here)."""

from base64 import b32encode

import django_otp
import qrcode
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import mark_safe
from qrcode.image.svg import SvgPathImage

from monitoring.forms.signed import SecondFactorForm
from monitoring.services import two_factor
from subjects import access

RECOVERY_CODES_TO_SHOW = "two_factor_recovery_codes"


def next_page(request):
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""


def onward(request):
    return redirect(next_page(request) or "dashboard")


def with_next(request, name):
    """The URL of `name`, carrying the page the user was going to."""
    target = next_page(request)
    return reverse(name) + (f"?{urlencode({'next': target})}" if target else "")


@login_required
def verify(request):
    if not access.needs_second_factor(request.user) or request.user.is_verified():
        return onward(request)
    if not two_factor.is_enrolled(request.user):
        return redirect(with_next(request, "two_factor_enrol"))
    form = SecondFactorForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        django_otp.login(request, form.device)
        if form.device.model_label() == "otp_static.staticdevice":
            left = two_factor.recovery_codes_left(request.user)
            messages.warning(
                request,
                f"You signed in with a recovery code, which now no longer works; {left} left. "
                "If your authenticator app is lost, ask staff to reset your two-factor sign-in.",
            )
        return onward(request)
    return render(
        request, "registration/two_factor_verify.html", {"form": form, "next": next_page(request)}
    )


@login_required
def enrol(request):
    if not access.needs_second_factor(request.user):
        return onward(request)
    if two_factor.is_enrolled(request.user):
        # An enrolled app is replaced only after staff reset it: a stolen password must not be
        # enough to enrol the thief's phone.
        return redirect(with_next(request, "two_factor_verify"))
    device = two_factor.pending_app(request.user)
    form = SecondFactorForm(request.POST or None, user=request.user, enrolling=True)
    if request.method == "POST" and form.is_valid():
        django_otp.login(request, form.device)
        request.session[RECOVERY_CODES_TO_SHOW] = form.recovery_codes
        return redirect(with_next(request, "two_factor_recovery_codes"))
    return render(
        request,
        "registration/two_factor_enrol.html",
        {
            "form": form,
            "next": next_page(request),
            "qr_svg": qr_svg(device.config_url),
            "otpauth_url": device.config_url,
            "secret": secret_groups(device),
        },
    )


@login_required
def recovery_codes(request):
    """The codes are shown once, right after enrolment; afterwards only how many are left."""
    codes = request.session.pop(RECOVERY_CODES_TO_SHOW, [])
    return render(
        request,
        "registration/two_factor_recovery_codes.html",
        {
            "codes": codes,
            "left": two_factor.recovery_codes_left(request.user),
            "next": next_page(request),
        },
    )


def qr_svg(data):
    """The QR code of `data` as an inline <svg> of one path, drawn by the qrcode library.
    django-otp's own write_qrcode_image writes `svg:`-prefixed rectangles, which a browser
    draws only as a separate SVG file, not inline in an HTML page."""
    svg = qrcode.make(data, image_factory=SvgPathImage, border=2).to_string(encoding="unicode")
    return mark_safe(svg)  # the library's markup; `data` is only encoded in the path


def secret_groups(device):
    """The app's secret in base32, in groups of four, for typing into an app by hand."""
    secret = b32encode(device.bin_key).decode()
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
