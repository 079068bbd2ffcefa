"""The demo tells the rules v2 story, and the flows issue 11 found broken end, replayed on it,
the way DESIGN section 3 says."""

import re

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import reverse

from monitoring import rules
from monitoring.demo import DEMO_PASSWORD
from monitoring.models import Alert, Decision, SubjectSafetyState

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("seed_demo")


def state_of(subject_id):
    return SubjectSafetyState.objects.get(subject__subject_id=subject_id)


def test_the_demo_has_decided_cases_waiting_cases_and_dosing_errors(demo):
    states = set(SubjectSafetyState.objects.values_list("state", flat=True))
    assert {rules.DISCONTINUED, rules.RESTART_PENDING, rules.WITHHELD, rules.DOSING} <= states
    actions = set(Decision.objects.values_list("action", flat=True))
    assert {"resume_reduced_dose", "resume_same_dose", "discontinue"} <= actions
    kinds = set(Alert.objects.filter(status="open").values_list("kind", flat=True))
    assert {"dose_while_withheld", "dose_off_regimen", "eligible_reduced_dose"} <= kinds
    restarted = SubjectSafetyState.objects.filter(
        regimen__code="reduced", regimen_since__isnull=False
    )
    assert restarted.exists()
    assert not Alert.objects.filter(status="retracted").exists()


def test_a_discontinued_subject_offers_no_resume_and_no_dose(client, demo):
    client.force_login(User.objects.get(username="reviewer"))
    discontinued = state_of_kind(rules.DISCONTINUED)
    r6 = Alert.objects.get(subject=discontinued.subject, kind="discontinue")
    # The discontinue decision resolved the whole case, R6 included: nothing is left to sign.
    assert r6.status == "resolved"
    assert client.get(reverse("alert", args=[r6.pk])).context["form"] is None
    forged = client.post(
        reverse("alert", args=[r6.pk]),
        {"action": "resume_same_dose", "reason": "x", "password": DEMO_PASSWORD},
    )
    assert forged.status_code == 403
    assert not Decision.objects.filter(subject=discontinued.subject, action="resume_same_dose")
    client.force_login(discontinued.subject.site.coordinators.first())
    subject_page = client.get(reverse("subject", args=[discontinued.subject_id])).content.decode()
    assert "Do not dose." in subject_page and "Treatment was discontinued" in subject_page


def state_of_kind(state):
    return SubjectSafetyState.objects.filter(state=state).select_related("subject__site").first()


def test_a_subject_waiting_for_a_restart_is_shown_as_such_everywhere(client, demo):
    waiting = state_of_kind(rules.RESTART_PENDING)
    client.force_login(User.objects.get(username="reviewer"))
    listed = client.get(reverse("subjects") + "?state=restart_pending").content.decode()
    assert waiting.subject.subject_id in listed
    assert "Withheld — re-start decision needed" in listed
    dashboard = client.get(reverse("dashboard")).context["d"]
    assert dict((s, n) for s, _, n in dashboard.subjects_by_state)[rules.RESTART_PENDING] >= 1
    assert any(c.subject == waiting.subject for c in dashboard.cases)
    pdf_facts = client.get(reverse("subject_report_csv", args=[waiting.subject_id]))
    assert pdf_facts.status_code == 200


def test_critical_alerts_cannot_be_acknowledged_in_bulk(client, demo):
    client.force_login(User.objects.get(username="reviewer"))
    critical = list(Alert.objects.filter(severity="critical", status="open"))
    assert critical
    client.post(reverse("alerts_acknowledge"), {"alerts": [a.pk for a in critical]})
    assert {a.status for a in Alert.objects.filter(pk__in=[a.pk for a in critical])} == {"open"}


def test_the_demo_sign_in_page_says_who_enrols_an_authenticator_app(client, demo, settings):
    settings.DEBUG = True
    page = client.get(reverse("login")).content.decode()
    note = re.search(r'<p [^>]*id="demo-two-factor">(.*?)</p>', page, re.S).group(1)
    assert "<code>admin</code>" in note and "<code>reviewer</code>" in note
    assert "<code>coordinator</code>" not in note and "<code>monitor</code>" not in note
    assert "QR code" in note and "authenticator app" in note


def test_the_demo_reviewer_is_asked_to_enrol_at_the_first_sign_in(client, demo):
    client.post(reverse("login"), {"username": "reviewer", "password": DEMO_PASSWORD})
    response = client.get(reverse("alerts"))
    assert client.get(response["Location"])["Location"].startswith(reverse("two_factor_enrol"))
