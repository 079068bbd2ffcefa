"""Sites in their own time zone: forms take the site's local time, pages show it with its zone,
the database and the files stay in UTC; a daylight-saving change moves no draw."""

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from monitoring.models import LabDraw

from .factories import make_subject

pytestmark = pytest.mark.django_db


def site_with(client, time_zone, country):
    subject = make_subject("MIP-701", "S07")
    subject.site.time_zone, subject.site.country = time_zone, country
    subject.site.save()
    coordinator = User.objects.create_user("kei", password="x")
    coordinator.groups.add(Group.objects.get(name="coordinator"))
    subject.site.coordinators.add(coordinator)
    client.force_login(coordinator)
    return subject


def enter(client, subject, local):
    return client.post(
        reverse("draw_new", args=[subject.pk]),
        {"collected_at": local, "ALT_value": "30", "ALT_unit": "U/L", "AST_unit": "U/L"},
    )


def test_a_coordinator_at_a_utc_plus_9_site_enters_local_time_and_the_export_is_utc(client):
    subject = site_with(client, "Asia/Tokyo", "JPN")
    form = client.get(reverse("draw_new", args=[subject.pk])).content.decode()
    assert "Collected at (Asia/Tokyo time)" in form
    assert enter(client, subject, "2026-03-02T09:30").status_code == 302
    draw = LabDraw.objects.get()
    assert draw.collected_at == datetime(2026, 3, 2, 0, 30, tzinfo=UTC)
    page = client.get(reverse("subject", args=[subject.pk])).content.decode()
    assert "2026-03-02 09:30 JST" in page
    detail = client.get(reverse("draw", args=[draw.pk])).content.decode()
    assert "Lab draw of 2026-03-02 09:30 JST" in detail
    monitor = User.objects.create_user("max", password="x")
    monitor.groups.add(Group.objects.get(name="monitor"))
    client.force_login(monitor)
    export = client.get(reverse("study_export_download", args=["labs", "csv"]))
    assert b"2026-03-02T00:30:00Z" in b"".join(export) if export.streaming else export.content


def test_across_a_daylight_saving_change_each_draw_keeps_its_local_time(client):
    subject = site_with(client, "Europe/London", "GBR")
    assert enter(client, subject, "2026-03-28T09:30").status_code == 302  # GMT
    assert enter(client, subject, "2026-03-30T09:30").status_code == 302  # BST
    stored = list(LabDraw.objects.order_by("collected_at").values_list("collected_at", flat=True))
    assert stored == [
        datetime(2026, 3, 28, 9, 30, tzinfo=UTC),
        datetime(2026, 3, 30, 8, 30, tzinfo=UTC),
    ]
    page = client.get(reverse("subject", args=[subject.pk])).content.decode()
    assert "2026-03-28 09:30 GMT" in page and "2026-03-30 09:30 BST" in page


@pytest.mark.parametrize(
    "local, words",
    [("2026-03-29T01:30", "does not exist"), ("2026-10-25T01:30", "happens twice")],
)
def test_a_local_time_the_clock_skips_or_repeats_is_refused_naming_the_field(client, local, words):
    subject = site_with(client, "Europe/London", "GBR")
    response = enter(client, subject, local)
    assert response.status_code == 200
    assert words in response.context["form"].errors["collected_at"][0]
    assert LabDraw.objects.count() == 0
