"""manage.py create_api_token USERNAME: a new bearer token, printed alone on the last line."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from subjects import access
from subjects.api_tokens import create_token


class Command(BaseCommand):
    help = "Create a bearer token for USERNAME (FHIR feed and read API); print it once."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        if not user.is_active:
            raise CommandError(f"{username!r} is not active")
        if not (access.roles(user) or user.is_staff):
            raise CommandError(f"{username!r} has no role: a token would reach nothing")
        raw = create_token(user)
        self.stdout.write(
            f"Token for {username} ({access.role_label(user)}); it is shown only now, "
            "and the admin revokes it:"
        )
        self.stdout.write(raw)
