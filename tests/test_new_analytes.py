"""INR and eosinophils, which FDA's DILI guidance judges (DESIGN section 3b), come in through
the draw form and the CSV import like every other test, within their plausibility limits."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from monitoring.models import Alert, LabResult

from .factories import make_subject
from .test_import import run_import, write
from .world import make_user

pytestmark = pytest.mark.django_db


def test_the_draw_form_takes_inr_and_eosinophils_and_fda_stops_on_them(
    client, django_capture_on_commit_callbacks
):
    call_command("set_rule_set", "MIPO-01", "fda_dili_2009", reason="IND study")
    coordinator = make_user("chloe", "coordinator")
    subject = make_subject("MIP-001", enrolled_on=(timezone.now() - timedelta(days=30)).date())
    subject.site.coordinators.add(coordinator)
    client.force_login(coordinator)
    collected = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("draw_new", args=[subject.pk]),
            {
                "collected_at": collected,
                "ALT_value": "150",
                "ALT_unit": "U/L",
                "INR_value": "1.6",
                "INR_unit": "{INR}",
                "EOS_value": "4",
                "EOS_unit": "%",
            },
        )
    assert response.status_code == 302, response.context["form"].errors
    stored = dict(LabResult.objects.values_list("analyte", "value"))
    assert (stored["INR"], stored["EOS"]) == (Decimal("1.6"), Decimal(4))
    (f6,) = Alert.objects.filter(kind="discontinue")
    assert f6.rule == "F6" and "S3" in f6.explanation and "INR" in f6.explanation


def test_the_csv_import_takes_inr_and_eosinophils_within_their_limits(tmp_path, capsys):
    make_subject("S-001")
    labs = "subject_id,collected_at,test,value,unit,uln\n"
    good = labs + "S-001,2026-01-04T08:00:00Z,INR,1.2,{INR},\nS-001,2026-01-04T08:00:00Z,EOS,7,%,\n"
    call_command("import_csv", labs=write(tmp_path, "labs.csv", good))
    assert set(LabResult.objects.values_list("analyte", flat=True)) == {"INR", "EOS"}
    bad = labs + "S-001,2026-01-05T08:00:00Z,INR,25,{INR},\n"
    code, err = run_import(capsys, labs=write(tmp_path, "bad.csv", bad))
    assert code == 1 and ":2: value:" in err and "20" in err
