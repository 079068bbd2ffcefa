"""Project-wide response headers, and the second factor required of those who need one."""

from urllib.parse import urlencode

from django.shortcuts import redirect
from django.urls import Resolver404, resolve, reverse
from django.utils.cache import add_never_cache_headers

from subjects import access


class NoStoreWhenSignedInMiddleware:
    """Nothing shown to a signed-in user (pages, PDFs, exports, the admin) is kept by the browser
    or a proxy: `Cache-Control: no-store`, so a shared computer's back button or disk cache
    shows no patient data after sign-out. Static files are served before this (WhiteNoise)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.user.is_authenticated:
            add_never_cache_headers(response)
        return response


class SecondFactorRequiredMiddleware:
    """A user who needs a second factor (subjects.access.needs_second_factor: reviewers,
    unblinded users, staff) and has signed in with a password only reaches nothing but the
    two-factor pages, sign-out and password reset: every other page, the admin and the API
    sent with the session redirect to the code check (or to enrolment, if no app is enrolled).
    Runs after django-otp's OTPMiddleware, which marks the verified."""

    OPEN = frozenset(
        {
            "logout",
            "two_factor_verify",
            "two_factor_enrol",
            "password_reset",
            "password_reset_done",
            "password_reset_confirm",
            "password_reset_complete",
        }
    )

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if access.needs_second_factor(user) and not user.is_verified():
            match = resolve_or_none(request.path_info)
            if match is None or match.view_name not in self.OPEN:
                verify = reverse("two_factor_verify")
                if match is not None and match.view_name not in {"login", "dashboard"}:
                    verify += "?" + urlencode({"next": request.get_full_path()})
                return redirect(verify)
        return self.get_response(request)


def resolve_or_none(path):
    try:
        return resolve(path)
    except Resolver404:
        return None
