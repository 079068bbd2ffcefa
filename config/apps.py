"""Names for the admin of apps hepwatch installs from libraries (django-otp's plugins)."""

from django_otp.plugins.otp_static.apps import DefaultConfig as StaticConfig
from django_otp.plugins.otp_totp.apps import DefaultConfig as TOTPConfig


class AuthenticatorApps(TOTPConfig):
    verbose_name = "Two-factor sign-in: authenticator apps"


class RecoveryCodes(StaticConfig):
    verbose_name = "Two-factor sign-in: recovery codes"
