"""The sign-in page and the dashboard."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.contrib.auth.views import LoginView
from django.shortcuts import render

from monitoring.selectors import overview
from subjects import access
from subjects.models import Study


class SignInView(LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["study"] = Study.objects.filter(code=settings.HEPWATCH_DEFAULT_STUDY).first()
        if settings.DEBUG:
            from monitoring import demo

            names = [username for username, *_ in demo.DEMO_USERS]
            if User.objects.filter(username__in=names).exists():
                context["demo_users"] = [
                    (
                        username,
                        name,
                        access.ROLE_LABELS[group]
                        + (", unblinded" if username in demo.DEMO_UNBLINDED else ""),
                        sites,
                    )
                    for username, group, name, sites in demo.DEMO_USERS
                ]
                context["demo_password"] = demo.DEMO_PASSWORD
                context["demo_second_factor"] = [
                    user.username
                    for user in User.objects.filter(username__in=[*names, "admin"]).order_by(
                        "username"
                    )
                    if access.needs_second_factor(user)
                ]
        return context


@login_required
def dashboard(request):
    return render(request, "monitoring/dashboard.html", {"d": overview.dashboard(request.user)})
