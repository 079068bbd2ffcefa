"""The subject report: a PDF that opens, holds the subject id, the chart and every alert with its
decisions (read back with pdftotext); A4 and Letter with page numbers; the same content as a CSV
bundle; who may download it."""

import csv
import io
import re
import subprocess
import zipfile

import pytest
from django.core.management import call_command
from django.urls import reverse

from monitoring import rules
from monitoring.models import Alert
from monitoring.reports import subject_report

pytestmark = pytest.mark.django_db


def pdf_text(content, tmp_path, *extra):
    path = tmp_path / "report.pdf"
    path.write_bytes(content)
    out = subprocess.run(["pdftotext", *extra, str(path), "-"], capture_output=True, check=True)
    return out.stdout.decode()


def pdf_info(content, tmp_path):
    path = tmp_path / "info.pdf"
    path.write_bytes(content)
    return subprocess.run(["pdfinfo", str(path)], capture_output=True, check=True).stdout.decode()


def flat(text):
    """Text with line breaks and runs of spaces made single spaces (pdftotext wraps lines)."""
    return re.sub(r"\s+", " ", text)


def test_pdf_holds_the_subject_id_the_chart_and_every_alert_with_its_decision(world, tmp_path):
    subject = world["own"]
    alerts = list(Alert.objects.filter(subject=subject))
    assert {a.kind for a in alerts} >= {"withhold_dose", "discontinue", "confirmation_overdue"}
    content = subject_report.report_pdf(subject_report.subject_report(subject))

    assert content.startswith(b"%PDF-")
    text = flat(pdf_text(content, tmp_path))
    assert "Subject MIP-001" in text
    # The header: site, arm, sex, age, status, regimen.
    for expected in ("S01", "200 mg once weekly", "Male", "Discontinued since"):
        assert expected in text
    # The chart is vector: its axis labels, legend and threshold lines are text in the PDF.
    for label in ("ALT / AST × ULN", "TBIL × ULN", "ALT ×ULN", "AST ×ULN", "3× withhold"):
        assert label in text
    images = subprocess.run(
        ["pdfimages", "-list", str(tmp_path / "report.pdf")], capture_output=True, check=True
    ).stdout.decode()
    assert len(images.strip().splitlines()) == 2  # header lines only: no raster image
    # Every alert: rule, kind, and its explanation word for word.
    for alert in alerts:
        assert f"{alert.rule} {alert.kind}" in text
        assert flat(alert.explanation) in text
    # The decision with its reason and signature.
    assert "Discontinue treatment — signed by Rita Rev (rita)" in text
    assert "right upper quadrant pain: stop mipomersen." in text
    assert "Electronic signature of Rita Rev (rita)" in text
    # Lab table with ×ULN and CTCAE grade; lipids; rules version and page numbers.
    assert "164 U/L" in text and "4.00×" in text and "G2" in text
    assert "−22.2%" in text or "-22.2%" in text  # LDL-C 180 → 140
    assert "rules v2" in text and "Generated" in text
    assert re.search(r"Page 1 of \d", text)


@pytest.mark.parametrize("paper, size", [("a4", "(A4)"), ("letter", "612 x 792 pts (letter)")])
def test_pdf_comes_in_a4_and_letter(world, tmp_path, paper, size):
    content = subject_report.report_pdf(subject_report.subject_report(world["own"]), paper)
    (line,) = [x for x in pdf_info(content, tmp_path).splitlines() if x.startswith("Page size:")]
    assert line.endswith(size)


def test_csv_bundle_holds_the_same_content(world):
    report = subject_report.subject_report(world["own"])
    archive = zipfile.ZipFile(io.BytesIO(subject_report.report_csv_bundle(report)))
    names = set(archive.namelist())
    assert names == {
        "subject.csv",
        "doses.csv",
        "withheld_periods.csv",
        "labs.csv",
        "alerts.csv",
        "decisions.csv",
        "lipids.csv",
    }

    def rows(name):
        return list(csv.DictReader(io.StringIO(archive.read(name).decode())))

    facts = {r["field"]: r["value"] for r in rows("subject.csv")}
    assert (
        facts["subject_id"] == "MIP-001" and facts["rules_version"] == rules.DEFAULT_RULE_SET.label
    )
    assert len(rows("doses.csv")) == 6
    assert {r["kind"] for r in rows("alerts.csv")} == {
        a.kind for a in Alert.objects.filter(subject=world["own"])
    }
    (decision,) = rows("decisions.csv")
    assert decision["action"] == "discontinue" and decision["reviewer"] == "rita"
    alt = [r for r in rows("labs.csv") if r["test"] == "ALT" and r["value"] == "164"]
    assert alt[0]["x_uln"] == "4" and alt[0]["ctcae_grade"] == "2"
    ldl = [r for r in rows("lipids.csv") if r["test"] == "LDLC"]
    assert [r["percent_change"] for r in ldl] == ["", "-22.22"]


def test_coordinator_downloads_own_subjects_report_and_gets_404_for_another_site(client, world):
    client.force_login(world["coordinator"])
    response = client.get(reverse("subject_report_pdf", args=[world["own"].pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert 'filename="hepwatch-MIP-001-report.pdf"' in response["Content-Disposition"]
    assert response.content.startswith(b"%PDF-")
    assert client.get(reverse("subject_report_pdf", args=[world["other"].pk])).status_code == 404
    assert client.get(reverse("subject_report_csv", args=[world["other"].pk])).status_code == 404
    zipped = client.get(reverse("subject_report_csv", args=[world["own"].pk]))
    assert zipped.status_code == 200 and zipped["Content-Type"] == "application/zip"


@pytest.mark.parametrize("role", ["monitor", "reviewer", "staff"])
def test_monitor_reviewer_and_staff_download_any_subjects_report(client, world, role, tmp_path):
    client.force_login(world[role])
    response = client.get(reverse("subject_report_pdf", args=[world["other"].pk]) + "?paper=letter")
    assert response.status_code == 200
    assert "Subject MIP-002" in flat(pdf_text(response.content, tmp_path))


def test_anonymous_visitor_is_sent_to_sign_in(client, world):
    response = client.get(reverse("subject_report_pdf", args=[world["own"].pk]))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_subject_page_links_to_the_report(client, world):
    client.force_login(world["coordinator"])
    page = client.get(reverse("subject", args=[world["own"].pk])).content.decode()
    assert reverse("subject_report_pdf", args=[world["own"].pk]) in page
    assert reverse("subject_report_csv", args=[world["own"].pk]) in page


def test_subject_report_command_writes_a_pdf_and_a_csv_bundle(world, tmp_path, capsys):
    pdf = tmp_path / "r.pdf"
    call_command("subject_report", "MIP-001", "-o", str(pdf), "--paper", "letter")
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert "Subject MIP-001" in flat(pdf_text(pdf.read_bytes(), tmp_path))
    bundle = tmp_path / "r.zip"
    call_command("subject_report", "MIP-001", "-o", str(bundle), "--csv")
    assert "alerts.csv" in zipfile.ZipFile(bundle).namelist()


def test_a_subject_id_cannot_break_out_of_the_pdf_page_header(world, tmp_path):
    subject = world["other"]
    subject.subject_id = 'X"}body{display:none}</style>pwned'
    subject.save()
    text = flat(
        pdf_text(subject_report.report_pdf(subject_report.subject_report(subject)), tmp_path)
    )
    assert "pwned" in text and "Alerts, decisions and signatures" in text
