"""The study report page: eDISH plot and quadrant table, R ratio, the arm comparison with its
numbers in tables and the published figures beside them; monitors, reviewers and staff only."""

import html
import json
import re

import pytest
from django.urls import reverse

from monitoring.reports import analysis
from subjects.models import Subject

pytestmark = pytest.mark.django_db


def text(response):
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())))


@pytest.mark.parametrize("role", ["monitor", "reviewer", "staff"])
def test_study_report_shows_edish_quadrants_and_the_arm_comparison(client, world, role):
    client.force_login(world[role])
    response = client.get(reverse("study_report"))
    assert response.status_code == 200
    page = text(response)
    # MIP-001: ALT 4× with TBIL 2.5× on treatment: potential Hy's law.
    assert "Potential Hy's law (ALT/AST ≥ 3×, TBIL ≥ 2×) MIP-001 1" in page
    # Incidence per arm, with its interval, and the difference between arms.
    assert "200 mg once weekly 1 1 1 100.0%" in page
    assert "70 mg three times weekly 1 1 0 0.0%" in page
    assert "Difference: 200 mg once weekly − 70 mg three times weekly +100.0 points" in page
    # LDL-C 180 → 140 (−22.2%) on treatment. MIP-002's 150 came 45 days after its last dose:
    # off treatment, so that arm has no LDL-C change to average.
    assert "LDL-C 200 mg once weekly 1 −22.2%" in page
    assert "LDL-C 70 mg three times weekly 0 — —" in page
    # The published figures beside them.
    for figure in ("14.5%", "33%", "6%", "7%", "−28%", "−50%"):
        assert figure in page
    # The R ratio: the peak ALT draw holds ALP 90 (0.70× ULN): R = 4.00 / 0.6977 = 5.7.
    assert "5.7 hepatocellular" in page


def test_edish_points_are_coloured_by_arm_and_open_their_subject(client, world):
    client.force_login(world["monitor"])
    page = client.get(reverse("study_report")).content.decode()
    data = re.search(r'id="edish-chart-data">(.*?)</script>', page, re.S).group(1)
    figure = json.loads(data)
    traces = {t["name"]: t for t in figure["data"]}
    assert set(traces) == {"200 mg once weekly", "70 mg three times weekly"}
    own = traces["200 mg once weekly"]
    assert own["customdata"] == [reverse("subject", args=[world["own"].pk])]
    assert own["x"] == [pytest.approx(4.0)] and own["y"] == [pytest.approx(2.5)]
    assert figure["layout"]["xaxis"]["type"] == "log"
    assert "data-click-opens" in page and "js/study_report." in page  # by its hashed name


def test_coordinator_cannot_open_the_study_report(client, world):
    client.force_login(world["coordinator"])
    assert client.get(reverse("study_report")).status_code == 403


def test_load_subjects_reads_what_the_services_wrote(world):
    data = {s.subject_id: s for s in analysis.load_subjects(Subject.objects.all())}
    own = data["MIP-001"]
    assert own.arm == "200 mg once weekly" and own.site == "S01"
    assert len(own.draws) == 3 and own.first_dose_at < own.last_dose_at
    assert analysis.elevated(own) is True and analysis.elevated(data["MIP-002"]) is False
