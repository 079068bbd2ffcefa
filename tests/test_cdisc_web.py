"""The web import takes a sponsor's CDISC transfer too (staff only): the same files as
import_cdisc, uploaded together, then every affected subject evaluated."""

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from monitoring.models import LabDraw, LabResult
from subjects.models import Dose, Subject

from .test_cdisc import files  # noqa: F401 (fixture)
from .world import make_user

pytestmark = pytest.mark.django_db


def upload(path):
    path = Path(path)
    return SimpleUploadedFile(path.name, path.read_bytes(), "application/octet-stream")


def test_staff_import_a_cdisc_transfer_from_the_import_page(client, files):  # noqa: F811
    client.force_login(User.objects.create_superuser("ada", "ada@example.org", "x"))
    response = client.post(
        reverse("cdisc_import"),
        {"cdisc_files": [upload(files["ex"]), upload(files["dm"]), upload(files["lb"])]},
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "DM of" in page and "EX of" in page and "LB of" in page
    assert "queued for evaluation" in page
    assert Subject.objects.exists() and Dose.objects.exists() and LabResult.objects.exists()


def test_a_coordinator_cannot_import_a_transfer(client, files):  # noqa: F811
    client.force_login(make_user("chloe", "coordinator"))
    response = client.post(reverse("cdisc_import"), {"cdisc_files": [upload(files["dm"])]})
    assert response.status_code == 403
    assert not Subject.objects.exists()


def test_a_file_of_another_type_is_refused_with_the_reason(client):
    client.force_login(User.objects.create_superuser("ada", "ada@example.org", "x"))
    bad = SimpleUploadedFile("dm.sas7bdat", b"x", "application/octet-stream")
    response = client.post(reverse("cdisc_import"), {"cdisc_files": [bad]})
    assert response.status_code == 400
    assert "Only SAS transport (.xpt) and CSV (.csv) files" in response.content.decode()


def test_a_cdisc_web_import_is_credited_to_the_staff_user_who_imported_it(client, files):  # noqa: F811
    ada = User.objects.create_superuser("ada", "ada@example.org", "x", first_name="Ada")
    client.force_login(ada)
    client.post(
        reverse("cdisc_import"),
        {"cdisc_files": [upload(files["ex"]), upload(files["dm"]), upload(files["lb"])]},
    )
    assert LabDraw.objects.exists() and Dose.objects.exists()
    assert set(LabDraw.objects.values_list("entered_by", flat=True)) == {ada.pk}
    assert set(Dose.objects.values_list("entered_by", flat=True)) == {ada.pk}
    for model in (Subject, Dose, LabDraw, LabResult):
        assert set(model.history.values_list("history_user", flat=True)) == {ada.pk}, model
