"""The study report as a PDF, read back with pdftotext: its data cut, rules version and rule
set, eDISH with its quadrant table, the cases and their decisions, and the arm comparison only
for a reader who may see the arms."""

import re
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse

from subjects import access
from subjects.models import Study, UnblindedRosterEntry

from .world import make_user

pytestmark = pytest.mark.django_db


def pdf_text(response) -> str:
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"] == "application/pdf"
    return subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=response.content, capture_output=True, check=True
    ).stdout.decode()


def test_the_study_pdf_names_its_data_cut_rules_edish_cases_and_decisions(client, world):
    client.force_login(world["monitor"])
    asked = datetime.now(UTC)
    response = client.get(reverse("study_report_pdf"))
    text = pdf_text(response)
    cut = re.search(r"Data cut (\d{4}-\d\d-\d\d \d\d:\d\d) UTC", text)
    assert cut, text[:500]
    stamp = datetime.strptime(cut.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    assert asked - timedelta(minutes=1) <= stamp <= asked + timedelta(minutes=1)
    assert f"hepwatch-study-report-{stamp:%Y%m%d-%H%M}.pdf" in response["Content-Disposition"]
    assert "rules v2" in text and "rule set “seed”" in text
    assert "eDISH" in text and "Potential Hy's law" in text
    assert re.search(r"Potential Hy's law \(ALT/AST ≥ 3×, TBIL ≥ 2×\)\s+1\s+MIP-001", text)
    assert "Cases and their decisions" in text and "MIP-001" in text
    assert "Discontinue" in text and "stop mipomersen" in text  # the signed reason
    assert "Arm comparison" in text  # an open-label study: for every reader


def test_the_reports_page_links_the_pdf_and_says_the_data_cut(client, world):
    client.force_login(world["reviewer"])
    page = client.get(reverse("study_report")).content.decode()
    assert reverse("study_report_pdf") in page and "Data cut" in page


def test_in_a_blinded_study_only_the_unblinded_pdf_compares_the_arms(client, world):
    study = Study.objects.get()
    call_command("set_blinding", study.code, "blinded", "--reason", "double-blind")
    client.force_login(world["monitor"])
    blinded = pdf_text(client.get(reverse("study_report_pdf")))
    assert "Arm comparison" not in blinded and "200 mg once weekly" not in blinded
    assert "for the unblinded group" in blinded and "Blinded" in blinded
    statistician = make_user("stella", access.MONITOR)
    UnblindedRosterEntry.objects.create(study=study, user=statistician, reason="DMC")
    statistician.groups.add(Group.objects.get(name=access.UNBLINDED))
    client.force_login(statistician)
    unblinded = pdf_text(client.get(reverse("study_report_pdf")))
    assert "Arm comparison" in unblinded and "200 mg once weekly" in unblinded
    assert "this copy is unblinded" in unblinded
