"""A subject's history page reads like a record: people by name, values with their units,
multiples rounded as everywhere else, and what the engine did credited to "hepwatch rules"."""

from datetime import timedelta

import pytest
from django.urls import reverse

from monitoring.models import Alert, LabDraw

from .factories import make_subject
from .world import NOW, make_user

# Real commits: evaluation runs on commit inside the request, as on the embedded default.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def chloe(client):
    chloe = make_user("chloe", "coordinator", first_name="Chloe", last_name="Coord")
    subject = make_subject("MIP-001", "S01", enrolled_on=(NOW - timedelta(days=40)).date())
    subject.site.coordinators.add(chloe)
    client.force_login(chloe)
    return subject


def enter_draw(client, subject):
    """ALT 90 U/L (2.195× the default ULN of 41) and TBIL 21 µmol/L with its ULN 21 µmol/L."""
    when = (NOW - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    data = {"collected_at": when, "ALT_value": "90", "TBIL_value": "21", "TBIL_uln": "21"}
    units = {"ALT": "U/L", "AST": "U/L", "ALP": "U/L", "TBIL": "umol/L"}
    data.update({f"{a}_unit": u for a, u in {**units, "LDLC": "mg/dL", "APOB": "mg/dL"}.items()})
    response = client.post(reverse("draw_new", args=[subject.pk]), data)
    assert response.status_code == 302
    return LabDraw.objects.get(subject=subject)


def correct_alt(client, draw, value):
    result = draw.results.get(analyte="ALT")
    response = client.post(
        reverse("result_correct", args=[result.pk]),
        {"value": value, "unit": "U/L", "reason": f"the report says {value}"},
    )
    assert response.status_code == 302


def history_page(client, subject):
    return client.get(reverse("subject_history", args=[subject.pk]))


def test_history_names_people_not_their_ids(client, chloe):
    enter_draw(client, chloe)
    response = history_page(client, chloe)
    page = response.content.decode()
    assert "entered by Chloe Coord" in page
    assert "entered by 1" not in page and "entered by " + str(chloe.pk) not in page
    draw_row = next(e for e in response.context["page"] if e.what.startswith("Lab draw"))
    assert draw_row.who == "Chloe Coord"


def test_history_shows_values_with_units_and_rounded_multiples(client, chloe):
    enter_draw(client, chloe)
    page = history_page(client, chloe).content.decode()
    assert "value 90 U/L" in page
    assert "×ULN 2.19×" in page and "2.195" not in page
    assert "ULN 1.23 mg/dL" in page and "1.228070175439" not in page
    assert "reported ULN 21 µmol/L" in page


def test_what_the_engine_did_is_credited_to_hepwatch_rules(client, chloe):
    draw = enter_draw(client, chloe)
    correct_alt(client, draw, "150")  # 3.66×: withhold, ...
    correct_alt(client, draw, "30")  # a typo after all: the alerts are retracted
    alerts = Alert.objects.filter(subject=chloe)
    assert alerts.filter(kind="withhold_dose", status="retracted").exists()
    records = Alert.history.filter(subject_id=chloe.pk)
    assert records.filter(history_type="~").exists()
    assert set(records.values_list("history_user", flat=True)) == {None}
    response = history_page(client, chloe)
    alert_rows = [e for e in response.context["page"] if e.what.startswith("Alert")]
    assert alert_rows and {e.who for e in alert_rows} == {"hepwatch rules"}
    assert "hepwatch rules" in response.content.decode()
    corrections = [e for e in response.context["page"] if e.reason == "the report says 30"]
    assert corrections and {e.who for e in corrections} == {"Chloe Coord"}
