"""The web lab import, as a coordinator uses it: upload, a preview with every bad row and its
reason before anything is written, confirm, then one evaluation. Limits on size and type; only
coordinators (their own sites' subjects) and staff may import."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from monitoring.formats import lab_upload
from monitoring.models import Alert, LabDraw, LabResult

from .world import SignInClient

pytestmark = pytest.mark.django_db

HEADER = "subject_id,collected_at,test,value,unit,uln\n"
GOOD = HEADER + (
    "MIP-001,2026-01-05T08:00:00Z,ALT,10,U/L,\n"  # an early draw: no alert of its own
    "MIP-001,2026-01-05T08:00:00Z,AST,12,U/L,\n"
)


@pytest.fixture(autouse=True)
def upload_dir(settings, tmp_path):
    settings.HEPWATCH_UPLOAD_DIR = str(tmp_path)
    return tmp_path / "hepwatch-lab-uploads"


def csv_file(text, name="labs.csv", content_type="text/csv"):
    return SimpleUploadedFile(name, text.encode("utf-8"), content_type=content_type)


def upload(client, text, **kwargs):
    return client.post(reverse("lab_import"), {"file": csv_file(text, **kwargs)})


def token_of(response):
    return re.search(r"t=([0-9a-f]{32})", response["Location"]).group(1)


def counts():
    return LabDraw.objects.count(), LabResult.objects.count()


def test_coordinator_sees_a_preview_then_confirms_and_the_draw_is_evaluated(
    client, world, django_capture_on_commit_callbacks
):
    client.force_login(world["coordinator"])
    assert client.get(reverse("lab_import")).status_code == 200
    before = counts()
    late = world["own"].draws.order_by("collected_at").last().collected_at
    when = late.replace(hour=15).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = HEADER + f"MIP-001,{when},ALT,200,U/L,\nMIP-001,{when},AST,50,U/L,\n"

    response = upload(client, text)
    assert response.status_code == 302
    preview = client.get(response["Location"])
    page = preview.content.decode()
    assert "Every row is valid." in page and "2 rows make 1 draw for 1 subject: 1 new" in page
    assert "MIP-001" in page and "new" in page
    assert counts() == before  # nothing written by the preview

    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(
            reverse("lab_import_confirm"), {"t": token_of(response), "action": "import"}
        )
    assert done.status_code == 302 and done["Location"] == reverse("lab_import")
    assert counts() == (before[0] + 1, before[1] + 2)
    # Evaluated once it committed: the 4.9× ALT of the new draw raised its alerts (R3, ...).
    draw = LabDraw.objects.get(subject=world["own"], collected_at__hour=15)
    assert draw.results.get(analyte="ALT").uln_multiple > 4
    assert Alert.objects.filter(subject=world["own"], draw=draw).exists()
    message = client.get(reverse("lab_import")).content.decode()
    assert "Imported labs.csv: 2 rows, 2 results created" in message
    assert "1 subject queued for evaluation" in message
    # The upload is gone: the same token cannot import twice.
    again = client.post(reverse("lab_import_confirm"), {"t": token_of(response)})
    assert again.status_code == 302 and counts() == (before[0] + 1, before[1] + 2)
    assert list(lab_upload.upload_dir().iterdir()) == []


def test_preview_lists_every_bad_row_with_its_reason_and_nothing_can_be_written(client, world):
    client.force_login(world["coordinator"])
    text = GOOD + (
        "MIP-001,2026-01-06T08:00:00Z,GGT,10,U/L,\n"
        "MIP-001,2026-01-06T08:00:00Z,TBIL,1.0,U/L,\n"
        "MIP-001,yesterday,ALT,10,U/L,\n"
        "MIP-001,2026-01-06T08:00:00Z,ALT,-3,U/L,\n"
        "NOBODY,2026-01-06T08:00:00Z,ALT,10,U/L,\n"
    )
    before = counts()
    response = upload(client, text)
    page = client.get(response["Location"]).content.decode()
    assert "5 bad rows of 7." in page
    bad = re.findall(
        r'<tr><td class="text-end">(\d+)</td><td><code>(\w+)</code></td><td>(.*?)</td></tr>', page
    )
    assert [(line, field) for line, field, _ in bad] == [
        ("4", "test"),
        ("5", "unit"),
        ("6", "collected_at"),
        ("7", "value"),
        ("8", "subject_id"),
    ]
    reasons = " ".join(reason for _, _, reason in bad)
    assert "unknown test" in reasons and "does not fit TBIL" in reasons
    assert "is not an ISO 8601 date-time" in reasons and "is not a positive number" in reasons
    assert "Import 7 rows" not in page  # no confirm button
    # Posting the confirm anyway writes nothing.
    refused = client.post(reverse("lab_import_confirm"), {"t": token_of(response)})
    assert refused.status_code == 409
    assert counts() == before


def test_a_row_for_another_sites_subject_is_a_bad_row_worded_like_an_unknown_one(client, world):
    client.force_login(world["coordinator"])
    text = GOOD + (
        "MIP-002,2026-01-05T08:00:00Z,ALT,10,U/L,\n"  # exists, at Olaf's site S02
        "MIP-999,2026-01-05T08:00:00Z,ALT,10,U/L,\n"  # does not exist
    )
    page = client.get(upload(client, text)["Location"]).content.decode()
    assert "2 bad rows of 4." in page
    assert "unknown subject &#x27;MIP-002&#x27; at your sites (S01)" in page
    assert "unknown subject &#x27;MIP-999&#x27; at your sites (S01)" in page
    # The other site's draw is not shown among the draws of the file either.
    assert page.count("MIP-002") == 1 and "1 draw" not in page


def test_staff_may_import_for_any_site(client, world, django_capture_on_commit_callbacks):
    client.force_login(world["staff"])
    text = HEADER + "MIP-002,2026-01-05T08:00:00Z,ALT,10,U/L,\n"
    response = upload(client, text)
    assert "Every row is valid." in client.get(response["Location"]).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("lab_import_confirm"), {"t": token_of(response), "action": "import"})
    assert LabDraw.objects.filter(subject=world["other"], collected_at__year=2026).exists()


@pytest.mark.parametrize("role", ["reviewer", "monitor"])
def test_reviewer_and_monitor_cannot_import(client, world, role):
    client.force_login(world[role])
    assert client.get(reverse("lab_import")).status_code == 403
    assert upload(client, GOOD).status_code == 403


def test_anonymous_visitor_is_sent_to_sign_in(client, world):
    response = client.get(reverse("lab_import"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    "name, content, content_type, message",
    [
        ("labs.xlsx", GOOD, "text/csv", "is not a .csv file"),
        ("labs.csv", "", "text/csv", "labs.csv is empty."),
        ("labs.csv", GOOD, "application/pdf", "was sent as application/pdf, not as CSV text"),
        ("labs.csv", "PK\x03\x04 zip", "text/csv", "is a spreadsheet workbook, not CSV"),
        ("labs.csv", "a,b\x00c", "text/csv", "is not text"),
    ],
)
def test_upload_type_limits_give_clear_messages(
    client, world, name, content, content_type, message
):
    client.force_login(world["coordinator"])
    response = upload(client, content, name=name, content_type=content_type)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_upload_size_limit(client, world, monkeypatch):
    monkeypatch.setattr(lab_upload, "MAX_BYTES", 1024 * 1024)
    client.force_login(world["coordinator"])
    big = GOOD + "MIP-001,2026-01-05T08:00:00Z,ALT,10,U/L,\n" * 30000
    response = upload(client, big)
    assert response.status_code == 400
    assert "MB; the limit is 1 MB" in response.content.decode()


def test_a_file_with_a_missing_column_or_bad_encoding_is_explained(client, world):
    client.force_login(world["coordinator"])
    page = client.get(upload(client, "subject_id,test,value\nMIP-001,ALT,1\n")["Location"])
    assert "line 1: collected_at: missing column" in page.content.decode()
    latin1 = SimpleUploadedFile("labs.csv", (GOOD + "MIP-001,é").encode("latin-1"), "text/csv")
    response = client.post(reverse("lab_import"), {"file": latin1})
    page = client.get(response["Location"]).content.decode()
    assert "not UTF-8 text" in page


def test_another_session_cannot_confirm_an_upload(client, world):
    client.force_login(world["coordinator"])
    token = token_of(upload(client, GOOD))
    intruder = SignInClient()
    intruder.force_login(world["staff"])
    before = counts()
    response = intruder.post(reverse("lab_import_confirm"), {"t": token, "action": "import"})
    assert response.status_code == 302 and response["Location"] == reverse("lab_import")
    assert intruder.get(reverse("lab_import_preview") + f"?t={token}").status_code == 302
    assert counts() == before


def test_cancel_discards_the_upload(client, world, upload_dir):
    client.force_login(world["coordinator"])
    token = token_of(upload(client, GOOD))
    assert [p.name for p in upload_dir.iterdir()] == [f"{token}.csv"]
    response = client.post(reverse("lab_import_confirm"), {"t": token, "action": "cancel"})
    assert response.status_code == 302
    assert list(upload_dir.iterdir()) == []
    assert (
        "Import cancelled; nothing was written."
        in client.get(reverse("lab_import")).content.decode()
    )


def test_nav_shows_import_to_coordinators_and_reports_to_monitors(client, world):
    client.force_login(world["coordinator"])
    page = client.get(reverse("dashboard")).content.decode()
    assert reverse("lab_import") in page and reverse("study_report") not in page
    client.force_login(world["monitor"])
    page = client.get(reverse("dashboard")).content.decode()
    assert reverse("lab_import") not in page and reverse("study_report") in page


def test_a_confirmed_web_import_is_credited_to_the_importer(client, world):
    client.force_login(world["coordinator"])
    text = HEADER + "MIP-001,2026-01-05T08:00:00Z,ALT,10,U/L,\n"
    response = upload(client, text)
    client.post(reverse("lab_import_confirm"), {"t": token_of(response), "action": "import"})
    draw = LabDraw.objects.get(subject=world["own"], collected_at__date="2026-01-05")
    assert draw.entered_by == world["coordinator"]
    assert [h.history_user for h in draw.history.all()] == [world["coordinator"]]
    result = draw.results.get()
    assert [h.history_user for h in result.history.all()] == [world["coordinator"]]
