"""The admin: usable for staff, and read-only for clinical records and their audit history."""

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import User

from monitoring.evaluation import runner
from monitoring.models import Alert, LabResult
from monitoring.services import lab_entry
from subjects.models import Arm, Dose, Site, Subject

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
    draw = lab_entry.record_draw(subject, datetime(2026, 11, 20, 8, tzinfo=UTC), results(ALT=300))
    runner.evaluate_subjects([subject.pk])
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
    lab_entry.correct_result(result, value=30, reason="typo")
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


# ---- a reason for every clinical change; nothing clinical records point to is deleted ---------


def change_form_data(client, url, **changes):
    """What the admin's change form posts back unchanged, with `changes` applied."""
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {}
    for name in form.fields:
        value = form.initial.get(name)
        if value in (None, False):
            continue
        data[name] = "on" if value is True else value
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        for name, value in formset.management_form.initial.items():
            data[f"{formset.prefix}-{name}"] = value
        for number, each in enumerate(formset.initial_forms):
            data[f"{formset.prefix}-{number}-id"] = each.instance.pk
    data.update(changes)
    return data


@pytest.fixture
def quiet_subject():
    return make_subject("S-002", "S02")


@pytest.mark.parametrize(
    "field, value",
    [
        ("sex", "F"),
        ("birth_date", "1971-05-01"),
        ("enrolled_on", "2026-01-02"),
        ("active_liver_disease", "on"),
    ],
)
def test_a_subjects_clinical_field_changes_in_the_admin_only_with_a_reason(
    staff_client, quiet_subject, field, value
):
    url = f"/admin/subjects/subject/{quiet_subject.pk}/change/"
    refused = staff_client.post(url, change_form_data(staff_client, url, **{field: value}))
    assert refused.status_code == 200
    assert "Give a reason for changing" in refused.content.decode()
    assert Subject.history.filter(id=quiet_subject.pk).count() == 1  # only its creation

    reason = "site query 12: source document shows otherwise"
    data = change_form_data(staff_client, url, **{field: value}, reason_for_change=reason)
    assert staff_client.post(url, data).status_code == 302
    latest = Subject.history.filter(id=quiet_subject.pk).latest("history_date")
    assert latest.history_type == "~" and latest.history_change_reason == reason
    assert latest.history_user.username == "boss"


def test_a_subjects_arm_and_site_change_in_the_admin_only_with_a_reason(
    staff_client, quiet_subject
):
    url = f"/admin/subjects/subject/{quiet_subject.pk}/change/"
    other_site = Site.objects.create(study=quiet_subject.study, code="S03")
    reduced = Arm.objects.get(study=quiet_subject.study, code="reduced")
    data = change_form_data(staff_client, url, arm=reduced.pk, site=other_site.pk)
    assert "Give a reason for changing" in staff_client.post(url, data).content.decode()
    quiet_subject.refresh_from_db()
    assert quiet_subject.arm.code == "standard"
    data["reason_for_change"] = "randomisation list corrected"
    assert staff_client.post(url, data).status_code == 302
    quiet_subject.refresh_from_db()
    assert (quiet_subject.arm, quiet_subject.site) == (reduced, other_site)


def test_a_subject_changed_in_the_admin_is_re_evaluated_through_the_service(
    staff_client, quiet_subject
):
    from monitoring.models import SubjectSafetyState

    assert not SubjectSafetyState.objects.filter(subject=quiet_subject).exists()
    url = f"/admin/subjects/subject/{quiet_subject.pk}/change/"
    data = change_form_data(staff_client, url, sex="F", reason_for_change="typo at entry")
    staff_client.post(url, data)
    assert SubjectSafetyState.objects.get(subject=quiet_subject).data_version >= 1


@pytest.mark.parametrize(
    "model, changes",
    [
        ("site", {"code": "S99"}),
        ("arm", {"name": "Standard dosing"}),
        ("regimen", {"dose_mg": "100"}),
    ],
)
def test_sites_arms_and_regimens_change_in_the_admin_only_with_a_reason(
    staff_client, quiet_subject, model, changes
):
    from django.contrib.admin.models import LogEntry

    obj = {
        "site": quiet_subject.site,
        "arm": quiet_subject.arm,
        "regimen": quiet_subject.arm.regimen,
    }[model]
    url = f"/admin/subjects/{model}/{obj.pk}/change/"
    refused = staff_client.post(url, change_form_data(staff_client, url, **changes))
    assert "Give a reason for changing" in refused.content.decode()
    data = change_form_data(staff_client, url, **changes, reason_for_change="protocol amendment 3")
    assert staff_client.post(url, data).status_code == 302
    entry = LogEntry.objects.filter(object_id=str(obj.pk)).latest("action_time")
    assert "Reason: protocol amendment 3" in entry.get_change_message()
    if model != "site":  # arms and regimens keep an audit history of their own
        assert obj.history.latest().history_change_reason == "protocol amendment 3"


def test_a_sites_coordinators_change_without_a_reason(staff_client, quiet_subject):
    coordinator = User.objects.create_user("chloe")
    url = f"/admin/subjects/site/{quiet_subject.site.pk}/change/"
    data = change_form_data(staff_client, url, coordinators=[coordinator.pk])
    assert staff_client.post(url, data).status_code == 302
    assert list(quiet_subject.site.coordinators.all()) == [coordinator]


def clinical_records(subject):
    from monitoring.models import Decision, LabDraw

    draw = LabDraw.objects.filter(subject=subject).first()
    return {
        "subjects/site": subject.site,
        "subjects/arm": subject.arm,
        "subjects/study": subject.study,
        "subjects/subject": subject,
        "subjects/dose": Dose.objects.filter(subject=subject).first(),
        "monitoring/labdraw": draw,
        "monitoring/labresult": draw.results.first(),
        "monitoring/alert": Alert.objects.filter(subject=subject).first(),
        "monitoring/decision": Decision.objects.filter(subject=subject).first(),
    }


@pytest.mark.parametrize(
    "path",
    [
        "subjects/site",
        "subjects/arm",
        "subjects/study",
        "subjects/subject",
        "subjects/dose",
        "monitoring/labdraw",
        "monitoring/labresult",
        "monitoring/alert",
        "monitoring/decision",
    ],
)
def test_nothing_clinical_records_point_to_can_be_deleted_in_the_admin(
    staff_client, django_capture_on_commit_callbacks, path
):
    from .world import build_world

    world = build_world(django_capture_on_commit_callbacks)
    obj = clinical_records(world["own"])[path]
    model = type(obj)
    url = f"/admin/{path}/{obj.pk}/"
    change_page = staff_client.get(url + "change/").content.decode()
    assert 'class="deletelink"' not in change_page
    assert staff_client.get(url + "delete/").status_code == 403
    assert staff_client.post(url + "delete/", {"post": "yes"}).status_code == 403
    bulk = staff_client.post(
        f"/admin/{path}/",
        {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"},
    )
    assert bulk.status_code in (200, 302)
    assert model.objects.filter(pk=obj.pk).exists()


def test_an_empty_site_entered_by_mistake_can_be_deleted(staff_client):
    from monitoring.formats.csv_import import default_study

    empty = Site.objects.create(study=default_study(), code="TYPO")
    url = f"/admin/subjects/site/{empty.pk}/delete/"
    assert staff_client.post(url, {"post": "yes"}).status_code == 302
    assert not Site.objects.filter(pk=empty.pk).exists()


def test_a_study_is_blinded_in_the_admin_only_with_a_reason_kept_in_its_history(staff_client):
    from subjects.models import Study

    study = Study.objects.get()
    url = f"/admin/subjects/study/{study.pk}/change/"
    refused = staff_client.post(url, change_form_data(staff_client, url, blinded="on"))
    assert "Give a reason for changing" in refused.content.decode()
    study.refresh_from_db()
    assert not study.blinded
    data = change_form_data(staff_client, url, blinded="on", reason_for_change="DSMB charter")
    assert staff_client.post(url, data).status_code == 302
    study.refresh_from_db()
    assert study.blinded and study.history.latest().history_change_reason == "DSMB charter"
