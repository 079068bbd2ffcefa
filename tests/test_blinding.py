"""Blinding: in a blinded study no page, export, PDF, e-mail or API answer names an arm or a
regimen to anyone outside the unblinded group (the walk reuses tests/test_access_walk.py's URL
list, so a new page is walked too); the unblinded roster guards the group; a safety reviewer
unblinds one subject in an emergency, signed and audited."""

import io
import re
import subprocess
import zipfile

import openpyxl
import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.core.management import call_command
from django.urls import reverse

from monitoring.evaluation import runner
from monitoring.models import Alert
from monitoring.services import data_queries, lab_entry, review
from subjects import access
from subjects.models import (
    Arm,
    Dose,
    EmergencyUnblinding,
    Regimen,
    Site,
    Study,
    Subject,
    UnblindedRosterEntry,
)

from .factories import results
from .test_access_walk import EXPECTED, url_for
from .test_views import two_sites  # noqa: F401 (fixture)
from .world import PASSWORD, at, make_user

pytestmark = pytest.mark.django_db

# Distinctive names, so a leak cannot hide behind a common word; the regimens' descriptions
# ("200 mg once weekly") are computed from their dose and frequency.
ARM_TEXT = {
    "standard": ("ARMQSTD", "Quokka standard arm"),
    "reduced": ("ARMQRED", "Quokka reduced arm"),
}
REGIMEN_TEXT = {
    "standard": ("REGQSTD", "Quokka standard regimen"),
    "reduced": ("REGQRED", "Quokka reduced regimen"),
}
DESCRIPTIONS = ("200 mg once weekly", "70 mg three times weekly")
WALKED_ROLES = ("coordinator", "other_coordinator", "reviewer", "monitor", "staff")


def forbidden():
    words = [w for pair in (*ARM_TEXT.values(), *REGIMEN_TEXT.values()) for w in pair]
    return [*words, *DESCRIPTIONS]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def blinded(two_sites, django_capture_on_commit_callbacks):  # noqa: F811
    """two_sites in a blinded study, with a reduced re-start signed for `own`, then a dose of
    the old regimen's 200 mg (R11) and a monitor's data query on it, a statistician on the
    roster and in `unblinded`, and staff."""
    w = two_sites
    study = w["own"].study
    capture = django_capture_on_commit_callbacks
    with capture(execute=True):
        lab_entry.record_draw(w["own"], at(2), results(ALT=22, AST=20))
    with capture(execute=True):
        review.sign_as_seeded(
            w["own"],
            at(2, 12),
            "resume_reduced_dose",
            "reduced",
            "ALT back to normal: re-start at the reduced dose.",
            w["reviewer"],
        )
    with capture(execute=True):
        off_regimen = Dose.objects.create(subject=w["own"], administered_at=at(1, 10), dose_mg=200)
        runner.mark_changed([w["own"].pk])
    assert Alert.objects.filter(subject=w["own"], kind="dose_off_regimen").exists()
    for code, (new_code, name) in ARM_TEXT.items():
        Arm.objects.filter(study=study, code=code).update(code=new_code, name=name)
    for code, (new_code, name) in REGIMEN_TEXT.items():
        Regimen.objects.filter(study=study, code=code).update(code=new_code, name=name)
    call_command("set_blinding", study.code, "blinded", "--reason", "double-blind protocol")
    Site.objects.update(country="GBR")  # SDTM DM needs it
    statistician = make_user("stella", access.MONITOR, email="stella@example.org")
    UnblindedRosterEntry.objects.create(study=study, user=statistician, reason="DMC statistician")
    statistician.groups.add(Group.objects.get(name=access.UNBLINDED))
    w["statistician"] = statistician
    w["staff"] = make_user("sam", is_staff=True)
    w["r11"] = Alert.objects.get(subject=w["own"], kind="dose_off_regimen")
    with capture(execute=True):
        w["query"] = data_queries.open_query(w["monitor"], off_regimen, "Was this dose given?")
    assert any("R11" in m.body for m in mail.outbox), "R11 is e-mailed to the reviewers"
    return w


def readable(response) -> str:
    """The response as text: PDFs through pdftotext, XLSX cells through openpyxl, zips member
    by member."""
    body = b"".join(response) if response.streaming else response.content
    return unpack(body)


def unpack(body: bytes) -> str:
    if body.startswith(b"%PDF"):
        return subprocess.run(
            ["pdftotext", "-layout", "-", "-"], input=body, capture_output=True, check=True
        ).stdout.decode()
    if body.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            names = archive.namelist()
            if "xl/workbook.xml" in names:
                book = openpyxl.load_workbook(io.BytesIO(body), read_only=True)
                return "\n".join(
                    " | ".join(str(c) for c in row if c is not None)
                    for sheet in book.worksheets
                    for row in sheet.iter_rows(values_only=True)
                )
            return "\n".join(unpack(archive.read(n)) for n in names)
    return body.decode("utf-8", errors="replace")


def walked_urls(w):
    """Every GET-able URL of test_access_walk's list, plus the second subject, the R11 alert,
    every study export and format, and filtered listings."""
    urls = {url_for(name, w) for name in EXPECTED if name not in ("logout",)}
    urls |= {
        reverse("subject", args=[w["other"].pk]),
        reverse("subject_report_pdf", args=[w["other"].pk]),
        reverse("alert", args=[w["r11"].pk]),
        reverse("api_alert-detail", args=[w["r11"].pk]),
        reverse("api_subject-detail", args=[w["other"].pk]),
        "/subjects/?export=csv",
        "/subjects/?export=xlsx",
        "/alerts/?export=csv",
        "/alerts/?export=xlsx",
        "/alerts/?kind=dose_off_regimen",
        f"/subjects/?arm={Arm.objects.first().pk}",
    }
    for name in ("subjects", "doses", "labs", "alerts", "decisions", "study"):
        for fmt in ("csv", "xlsx"):
            urls.add(reverse("study_export_download", kwargs={"name": name, "fmt": fmt}))
    return sorted(urls)


def jobs(client, capture):
    """The Reports page's export jobs (SDTM as CSV and XPT, the audit trail), downloaded."""
    bodies = {}
    for kind, data in (("sdtm", {"format": "csv"}), ("sdtm", {"format": "xpt"}), ("audit", {})):
        with capture(execute=True):
            response = client.post(reverse("export_job_new", args=[kind]), data)
        if response.status_code != 302:
            continue
        job = client.get(response["Location"]).context["job"]
        assert job.status == "done", (kind, job.error)
        file = client.get(reverse("export_job_download", args=[job.pk]))
        bodies[f"{kind} {data}"] = b"".join(file.streaming_content)
    return bodies


def leaks(text):
    return [word for word in forbidden() if re.search(re.escape(word), text, re.IGNORECASE)]


@pytest.mark.parametrize("role", WALKED_ROLES)
def test_no_page_export_pdf_or_api_answer_names_an_arm_or_regimen_in_a_blinded_study(
    client, blinded, role, django_capture_on_commit_callbacks
):
    client.force_login(blinded[role])
    found = {}
    for url in walked_urls(blinded):
        response = client.get(url)
        if response.status_code == 200 and (bad := leaks(readable(response))):
            found[url] = bad
    for what, body in jobs(client, django_capture_on_commit_callbacks).items():
        if bad := leaks(unpack(body)):
            found[what] = bad
    for message in mail.outbox:  # the reviewers' alert e-mails, R11's among them
        if bad := leaks(f"{message.subject}\n{message.body}"):
            found[f"e-mail {message.subject}"] = bad
    assert not found, f"{role} sees arms or regimens: {found}"


def test_the_statistician_sees_the_arms_the_walk_hides(client, blinded):
    client.force_login(blinded["statistician"])
    subject_page = readable(client.get(reverse("subject", args=[blinded["own"].pk])))
    assert "Quokka standard arm" in subject_page
    report = client.get(reverse("study_report"))
    assert report.status_code == 200 and "Quokka standard arm" in readable(report)
    api = client.get(reverse("api_subject-detail", args=[blinded["own"].pk])).json()
    assert api["arm"] == "ARMQSTD"


def test_the_blinded_see_the_word_blinded_where_the_arm_was(client, blinded):
    client.force_login(blinded["monitor"])
    page = readable(client.get(reverse("subject", args=[blinded["own"].pk])))
    assert access.BLINDED in page
    api = client.get(reverse("api_subject-detail", args=[blinded["own"].pk])).json()
    assert api["arm"] == access.BLINDED
    assert "arm comparison" not in readable(client.get(reverse("study_report"))).lower()


def test_r11_still_refuses_an_off_regimen_dose_without_naming_the_regimen(client, blinded):
    client.force_login(blinded["coordinator"])
    response = client.post(
        reverse("dose_new", args=[blinded["own"].pk]),
        {"administered_at": at(1, 9).strftime("%Y-%m-%dT%H:%M"), "dose_mg": "200"},
    )
    text = readable(response)
    assert response.status_code == 200 and "differs from the dose of the regimen" in text
    assert not leaks(text)


def test_an_open_label_study_shows_the_arms_to_everyone(client, two_sites):  # noqa: F811
    client.force_login(two_sites["monitor"])
    page = readable(client.get(reverse("subject", args=[two_sites["own"].pk])))
    assert "200 mg once weekly" in page and access.BLINDED not in page


# ---- emergency unblinding -----------------------------------------------------------------


def test_a_reviewer_unblinds_one_subject_with_a_signed_reason_seen_by_all_arm_by_them_alone(
    client, blinded, django_capture_on_commit_callbacks
):
    own = blinded["own"]
    url = reverse("subject_unblind", args=[own.pk])
    client.force_login(blinded["reviewer"])
    wrong = client.post(url, {"reason": "anaphylaxis", "password": "nope"})
    assert wrong.status_code == 200 and "password does not match" in readable(wrong)
    assert not EmergencyUnblinding.objects.exists()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url, {"reason": "Anaphylaxis in A&E: treating team needs the arm", "password": PASSWORD}
        )
    assert response.status_code == 302
    event = EmergencyUnblinding.objects.get(subject=own)
    assert event.history.first().history_change_reason.startswith("Anaphylaxis")
    assert [m.to for m in mail.outbox] == [["stella@example.org"]]
    assert "Quokka" not in mail.outbox[0].body and own.subject_id in mail.outbox[0].body
    page = readable(client.get(reverse("subject", args=[own.pk])))
    assert "Quokka standard arm" in page and "Emergency unblinding" in page
    other_page = readable(client.get(reverse("subject", args=[blinded["other"].pk])))
    assert not leaks(other_page)
    client.force_login(blinded["coordinator"])
    page = readable(client.get(reverse("subject", args=[own.pk])))
    assert "Emergency unblinding" in page and "Rita Rev" in page and not leaks(page)
    history = readable(client.get(reverse("subject_history", args=[own.pk])))
    assert "Emergency unblinding of" in history and "Anaphylaxis in A&amp;E" in history
    assert not leaks(history)


def test_only_a_safety_reviewer_may_unblind(client, blinded):
    client.force_login(blinded["monitor"])
    response = client.post(
        reverse("subject_unblind", args=[blinded["own"].pk]),
        {"reason": "curious", "password": PASSWORD},
    )
    assert response.status_code == 403
    assert not EmergencyUnblinding.objects.exists()


# ---- the study's blinding and the roster -----------------------------------------------------


def test_set_blinding_keeps_the_reason_in_the_studys_history(two_sites):  # noqa: F811
    study = two_sites["own"].study
    assert not study.blinded
    call_command("set_blinding", study.code, "blinded", "--reason", "protocol amendment 2")
    study.refresh_from_db()
    assert study.blinded
    assert study.history.first().history_change_reason == "protocol amendment 2"
    with pytest.raises(Exception, match="already blinded"):
        call_command("set_blinding", study.code, "blinded", "--reason", "again")


def test_the_admin_refuses_an_unlisted_user_in_the_unblinded_group_from_either_page(client):
    staff = make_user("admin", is_staff=True, is_superuser=True)
    user = make_user("ulla")
    group = Group.objects.get(name=access.UNBLINDED)
    client.force_login(staff)
    response = client.post(
        reverse("admin:auth_group_change", args=[group.pk]),
        {"name": access.UNBLINDED, "users": [user.pk]},
    )
    assert response.status_code == 200
    assert "no study&#x27;s unblinded roster lists them" in response.content.decode()
    user_form = {
        "username": "ulla",
        "password": user.password,
        "is_active": "on",
        "groups": [group.pk],
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }
    response = client.post(reverse("admin:auth_user_change", args=[user.pk]), user_form)
    assert response.status_code == 200
    assert "no study&#x27;s unblinded roster lists them" in response.content.decode()
    assert not user.groups.exists()
    UnblindedRosterEntry.objects.create(study=Study.objects.get(), user=user, reason="DMC")
    response = client.post(reverse("admin:auth_user_change", args=[user.pk]), user_form)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert list(user.groups.values_list("name", flat=True)) == [access.UNBLINDED]


def test_the_unblinded_group_sees_only_studies_whose_roster_lists_them(blinded):
    outsider = make_user("ozzy", access.MONITOR)
    outsider.groups.add(Group.objects.get(name=access.UNBLINDED))  # as if added before the check
    own = Subject.objects.get(pk=blinded["own"].pk)
    assert not access.sees_arm_of(outsider, own)
    assert access.sees_arm_of(blinded["statistician"], own)
