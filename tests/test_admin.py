"""The admin: usable for staff, and read-only for clinical records and their audit history."""

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import User

from monitoring import services
from monitoring.models import Alert, LabResult

from .factories import make_subject, results

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    admin = User.objects.create_superuser("boss", "boss@example.org", "x-Very-long-pass-42")
    client.force_login(admin)
    return client


@pytest.fixture
def result():
    subject = make_subject()
    draw = services.record_draw(subject, datetime(2026, 11, 20, 8, tzinfo=UTC), results(ALT=300))
    services.evaluate_subjects([subject.pk])
    return draw.results.get()


@pytest.mark.parametrize(
    "url",
    [
        "/admin/",
        "/admin/subjects/subject/",
        "/admin/subjects/subject/?site__id__exact=1&q=S-0",
        "/admin/monitoring/labdraw/",
        "/admin/monitoring/alert/?severity__exact=high",
        "/admin/monitoring/referencerange/add/",
    ],
)
def test_admin_pages_open_for_staff(staff_client, result, url):
    assert staff_client.get(url).status_code == 200


def test_admin_shows_a_draw_with_its_results_inline(staff_client, result):
    page = staff_client.get(f"/admin/monitoring/labdraw/{result.draw_id}/change/")
    assert page.status_code == 200 and b"300" in page.content


def test_lab_values_cannot_be_changed_or_deleted_in_the_admin(staff_client, result):
    url = f"/admin/monitoring/labresult/{result.pk}/"
    staff_client.post(url + "change/", {"value": "30", "unit": "U/L", "analyte": "ALT"})
    assert staff_client.post(url + "delete/", {"post": "yes"}).status_code == 403
    result.refresh_from_db()
    assert result.value == 300


def test_alerts_cannot_be_deleted_in_the_admin(staff_client, result):
    alert = Alert.objects.get(kind="withhold_dose")
    assert (
        staff_client.post(
            f"/admin/monitoring/alert/{alert.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    assert Alert.objects.filter(pk=alert.pk).exists()


def test_audit_history_can_be_read_but_not_replayed(staff_client, result):
    services.correct_result(result, value=30, reason="typo")
    first = LabResult.history.filter(id=result.pk).order_by("history_date").first()
    url = f"/admin/monitoring/labresult/{result.pk}/history/"
    assert staff_client.get(url).status_code == 200
    revert = f"{url}{first.history_id}/"
    assert staff_client.post(revert, {"value": "300", "unit": "U/L"}).status_code == 403
    result.refresh_from_db()
    assert result.value == 30


def test_no_historical_model_is_editable_in_the_admin(staff_client):
    from django.contrib import admin

    assert not [m for m in admin.site._registry if m.__name__.startswith("Historical")]
