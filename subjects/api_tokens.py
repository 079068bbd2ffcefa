"""Bearer tokens for the FHIR feed and the read API: stored as SHA-256 hashes, revocable."""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

PREFIX_LENGTH = 8


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class ApiToken(models.Model):
    """A user's bearer token; only its hash is kept. A revoked token authenticates nothing."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    prefix = models.CharField(max_length=PREFIX_LENGTH, help_text="The token's first characters.")
    hashed = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "subjects"
        ordering = ["-created_at"]

    def __str__(self):
        state = " (revoked)" if self.revoked_at else ""
        return f"{self.prefix}… of {self.user}{state}"


def create_token(user) -> str:
    """A new token for `user`; the raw token is returned once and never stored."""
    raw = secrets.token_urlsafe(32)
    ApiToken.objects.create(user=user, prefix=raw[:PREFIX_LENGTH], hashed=digest(raw))
    return raw


def user_for(raw: str):
    """The active user a live token belongs to, or None."""
    if not raw:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(hashed=digest(raw), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token.user


def bearer(request) -> str:
    """The token of an `Authorization: Bearer …` header, or ""."""
    scheme, _, raw = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return raw.strip() if scheme.lower() == "bearer" else ""


class BearerAuthentication:
    """Django REST framework authentication by `Authorization: Bearer <token>`."""

    keyword = "Bearer"

    def authenticate(self, request):
        raw = bearer(request)
        if not raw:
            return None
        user = user_for(raw)
        if user is None:
            from rest_framework.exceptions import AuthenticationFailed

            raise AuthenticationFailed("invalid or revoked token")
        return user, raw

    def authenticate_header(self, request):
        return 'Bearer realm="hepwatch"'
