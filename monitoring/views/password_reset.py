"""Password reset by e-mail, for everyone: Django's own views, with the link in the e-mail made
from HEPWATCH_BASE_URL (as every e-mail of hepwatch), never from the request's Host header."""

from django.conf import settings
from django.contrib.auth import views as auth_views


class PasswordResetView(auth_views.PasswordResetView):
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"

    def form_valid(self, form):
        self.extra_email_context = {"base_url": settings.HEPWATCH_BASE_URL.rstrip("/")}
        return super().form_valid(form)
