"""Sites in their own time zone: forms take the site's local time, pages show it with its zone,
the database and the files stay in UTC; a daylight-saving change moves no draw."""

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group, User
from django.core import mail
from django.urls import reverse

from monitoring.models import Alert, LabDraw
from monitoring.selectors import alert_pages, audit
from monitoring.services import lab_entry
from monitoring.tables import AlertTable

from .factories import make_subject, results
from .world import make_user

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


# ---- every page that shows a subject's time shows it in the subject's site's clock ----------


def site_at(subject_id, site_code, time_zone):
    subject = make_subject(subject_id, site_code)
    subject.site.time_zone = time_zone
    subject.site.save()
    return subject


def elevated_draw(subject, collected_at, capture):
    """A draw at 5× ULN: it opens a case (R3 withhold, R5 severe) for the reviewers."""
    with capture(execute=True):
        lab_entry.record_draw(subject, collected_at, results(ALT=250, AST=30))
    return LabDraw.objects.get(subject=subject, collected_at=collected_at)


def text(client, name, *args):
    response = client.get(reverse(name, args=args))
    assert response.status_code == 200
    return response.content.decode()


def test_a_tokyo_draw_at_00_30z_shows_09_30_jst_on_every_page_that_shows_it(
    client, django_capture_on_commit_callbacks
):
    subject = site_at("MIP-701", "S07", "Asia/Tokyo")
    draw = elevated_draw(
        subject, datetime(2026, 3, 2, 0, 30, tzinfo=UTC), django_capture_on_commit_callbacks
    )
    alert = Alert.objects.get(subject=subject, kind="withhold_dose")
    coordinator = make_user("kei", "coordinator")
    subject.site.coordinators.add(coordinator)
    reviewer = make_user("rita", "safety_reviewer")
    local = "2026-03-02 09:30 JST"
    for user in (coordinator, reviewer):
        client.force_login(user)
        queue = text(client, "alerts")
        assert local in queue and "2026-03-02 00:30" not in queue
        case = text(client, "alert", alert.pk)
        assert f"Case of the elevation of {local}" in case
        assert f'Triggering draw, <a href="{reverse("draw", args=[draw.pk])}">{local}</a>' in case
        dashboard = text(client, "dashboard")
        assert f"Lab draw of {local} entered" in dashboard
        assert dashboard.count(local) >= 2  # the open case's elevation and the activity
        history = text(client, "subject_history", subject.pk)
        assert f"Lab draw of {local}" in history
        assert f"collected at {local}" in history  # the draw's record, as created
    client.force_login(coordinator)
    correction = text(client, "result_correct", draw.results.get(analyte="ALT").pk)
    assert f"Correct ALT of {local}" in correction
    assert "Saved value: <strong>250 U/L</strong>" in correction


def test_the_audit_trail_file_stays_in_utc_while_the_history_page_shows_the_sites_clock(
    client, django_capture_on_commit_callbacks
):
    subject = site_at("MIP-701", "S07", "Asia/Tokyo")
    elevated_draw(
        subject, datetime(2026, 3, 2, 0, 30, tzinfo=UTC), django_capture_on_commit_callbacks
    )
    file_entries = audit.subject_history(subject)
    page_entries = audit.subject_history(subject, in_site_time=True)
    assert "Lab draw of 2026-03-02 00:30 UTC" in {e.what for e in file_entries}
    assert "Lab draw of 2026-03-02 09:30 JST" in {e.what for e in page_entries}


def test_a_study_wide_queue_shows_each_row_in_its_own_sites_zone(
    client, django_capture_on_commit_callbacks
):
    instant = datetime(2026, 3, 2, 0, 30, tzinfo=UTC)
    for subject_id, code, time_zone in [
        ("MIP-701", "S07", "Asia/Tokyo"),
        ("MIP-801", "S08", "America/New_York"),
        ("MIP-901", "S09", ""),
    ]:
        elevated_draw(
            site_at(subject_id, code, time_zone), instant, django_capture_on_commit_callbacks
        )
    client.force_login(make_user("rita", "safety_reviewer"))
    queue = text(client, "alerts")
    rows = {row.split("</a>")[0].rsplit(">", 1)[1]: row for row in queue.split('data-case="')[1:]}
    assert "2026-03-02 09:30 JST" in rows["MIP-701"]
    assert "2026-03-01 19:30 EST" in rows["MIP-801"]
    assert "2026-03-02 00:30 UTC" in rows["MIP-901"]


def test_across_berlins_daylight_saving_change_the_pages_keep_each_draws_instant(
    client, django_capture_on_commit_callbacks
):
    subject = site_at("MIP-701", "S07", "Europe/Berlin")
    winter = datetime(2026, 3, 28, 8, 30, tzinfo=UTC)  # 09:30 CET
    summer = datetime(2026, 3, 30, 7, 30, tzinfo=UTC)  # 09:30 CEST, a different instant
    elevated_draw(subject, winter, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        lab_entry.record_draw(subject, summer, results(ALT=260, AST=30))
    assert sorted(LabDraw.objects.values_list("collected_at", flat=True)) == [winter, summer]
    client.force_login(make_user("rita", "safety_reviewer"))
    history = text(client, "subject_history", subject.pk)
    assert "Lab draw of 2026-03-28 09:30 CET" in history
    assert "Lab draw of 2026-03-30 09:30 CEST" in history
    assert "2026-03-28 09:30 CET" in text(client, "dashboard")  # the case's elevation
    assert "2026-03-28 09:30 CET" in text(client, "alerts")
    later = LabDraw.objects.get(collected_at=summer)
    assert "Lab draw of 2026-03-30 09:30 CEST" in text(client, "draw", later.pk)


def test_the_reviewers_email_gives_the_triggering_draw_in_the_sites_clock(
    django_capture_on_commit_callbacks,
):
    make_user("rita", "safety_reviewer", email="rita@example.org")
    mail.outbox.clear()
    elevated_draw(
        site_at("MIP-701", "S07", "Asia/Tokyo"),
        datetime(2026, 3, 2, 0, 30, tzinfo=UTC),
        django_capture_on_commit_callbacks,
    )
    (message,) = mail.outbox
    assert "Triggered by the draw of 2026-03-02 09:30 JST" in message.body


def test_the_alert_table_shows_site_time_and_its_export_keeps_utc(
    client, django_capture_on_commit_callbacks
):
    subject = site_at("MIP-701", "S07", "Asia/Tokyo")
    elevated_draw(
        subject, datetime(2026, 3, 2, 0, 30, tzinfo=UTC), django_capture_on_commit_callbacks
    )
    reviewer = make_user("rita", "safety_reviewer")
    table = AlertTable(alert_pages.alert_queue(reviewer).filter(kind="withhold_dose"))
    (row,) = table.rows
    assert row.get_cell("triggered_at") == "2026-03-02 09:30 JST"
    assert '2026-03-09 09:30 JST <span class="badge text-bg-danger">overdue' in row.get_cell(
        "due_by"
    )
    client.force_login(reviewer)
    export = client.get(reverse("alerts"), {"export": "csv"}).content.decode()
    assert "2026-03-02 00:30:00+00:00" in export and "JST" not in export


def test_the_subjects_table_gives_the_last_draw_as_the_sites_day_with_its_moment(client):
    subject = site_at("MIP-701", "S07", "Asia/Tokyo")
    lab_entry.record_draw(subject, datetime(2026, 3, 1, 20, 0, tzinfo=UTC), results(ALT=30))
    client.force_login(make_user("rita", "safety_reviewer"))
    page = text(client, "subjects")
    assert 'title="2026-03-02 05:00 JST">2026-03-02</time>' in page  # 1 March in UTC
