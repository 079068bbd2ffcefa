"""What every response says besides its content: nothing behind sign-in is cached, and a refusal,
a missing page or a server error is a page of the app's layout with a message and a way back."""

import pytest
from django.test import Client
from django.urls import reverse

from monitoring.evaluation import runner
from monitoring.models import Alert
from monitoring.services import lab_entry

pytestmark = pytest.mark.django_db


def test_every_response_behind_sign_in_is_no_store(client, world):
    own = world["own"]
    client.force_login(world["monitor"])
    for url in (
        reverse("dashboard"),
        reverse("subject", args=[own.pk]),
        reverse("subject_history", args=[own.pk]),
        reverse("subjects") + "?export=xlsx",
        reverse("alerts") + "?export=csv",
        reverse("study_export_download", args=["labs", "csv"]),
        reverse("subject_report_pdf", args=[own.pk]),
        reverse("draw_new", args=[own.pk]),  # a 403
        "/no/such/page/",  # a 404
    ):
        response = client.get(url)
        assert "no-store" in response["Cache-Control"], url
    client.force_login(world["staff"])
    assert "no-store" in client.get("/admin/subjects/subject/")["Cache-Control"]


def test_a_refused_page_is_the_apps_403_page_with_the_reason(client, world):
    client.force_login(world["reviewer"])
    response = client.get(reverse("draw_new", args=[world["own"].pk]))
    assert response.status_code == 403
    page = response.content.decode()
    assert "Only a study coordinator of the subject&#x27;s site enters and corrects labs." in page
    assert 'href="/"' in page and "Back to the dashboard" in page
    assert "hw-nav" in page  # the layout's navigation


def test_a_decision_on_an_alert_that_is_no_longer_open_shows_why(client, world):
    closed = Alert.objects.get(subject=world["own"], kind="withhold_dose")
    result = closed.draw.results.get(analyte="ALT")
    lab_entry.correct_result(result, value=30, reason="transcription error")
    runner.evaluate_subjects([world["own"].pk])
    closed.refresh_from_db()
    assert closed.status == Alert.Status.RETRACTED
    decisions = closed.decisions.count()
    client.force_login(world["reviewer"])
    response = client.post(
        reverse("alert", args=[closed.pk]),
        {"action": "dismiss", "reason": "again", "password": "correct horse battery staple"},
    )
    assert response.status_code == 403
    page = response.content.decode()
    assert f"This alert is {closed.get_status_display().lower()}" in page
    assert "takes no further decisions" in page
    assert f'href="{reverse("alert", args=[closed.pk])}"' in page  # back to the alert
    assert closed.decisions.count() == decisions


def test_another_sites_subject_is_the_apps_404_page_with_a_way_back(client, world):
    client.force_login(world["coordinator"])
    response = client.get(reverse("subject", args=[world["other"].pk]))
    assert response.status_code == 404
    page = response.content.decode()
    assert "Not found" in page and "Back to the dashboard" in page and "hw-nav" in page


def test_an_anonymous_404_offers_sign_in(client):
    page = client.get("/no/such/page/").content.decode()
    assert "Not found" in page and reverse("login") in page


@pytest.mark.urls("tests.failing_urls")
def test_a_server_error_is_the_apps_500_page(world):
    client = Client(raise_request_exception=False)
    client.force_login(world["monitor"])
    response = client.get("/broken/")
    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong on our side" in page and 'href="/"' in page
    assert "/static/css/hepwatch." in page  # the app's layout (its stylesheet, hashed name)
