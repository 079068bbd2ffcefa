"""The entry forms under random and hostile input, through HTTP as a coordinator: always a
page with the field's error or a saved entry, never a 500, never a partial write, and never
script from the input in the page."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitoring.models import LabDraw, LabResult
from subjects.models import Dose

from .test_views import world  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert('x')</script>"
HOSTILE = [
    "",
    "NaN",
    "Infinity",
    "-1",
    "0",
    "1e400",
    "9" * 40,
    "12,5",
    "0x1F",
    SCRIPT,
    "'; DROP TABLE monitoring_labresult; --",
    "\x00",
    "２０",
    "2026-02-30T08:00",
    "9999-12-31T23:59",
    "1900-01-01T00:00",
    "35",
    "U/L",
    "mmol/L",
]
cells = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=40))
FIELDS = [
    f"{a}_{part}"
    for a in ("ALT", "AST", "ALP", "TBIL", "LDLC", "APOB")
    for part in ("value", "unit", "uln")
]

fuzz = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def recent():
    return (timezone.now() - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")


def no_script(content):
    assert SCRIPT.encode() not in content


@fuzz
@given(
    data=st.dictionaries(st.sampled_from(FIELDS + ["collected_at", "lab_name", "symptoms"]), cells)
)
def test_draw_form_never_fails_or_half_writes(client, world, data):  # noqa: F811
    client.force_login(world["coordinator"])
    subject = world["own"]
    before = (LabDraw.objects.count(), LabResult.objects.count())
    form = {"collected_at": recent(), "ALT_unit": "U/L", **data}
    response = client.post(reverse("draw_new", args=[subject.pk]), form)
    assert response.status_code in (200, 302)
    no_script(response.content)
    draws, results = LabDraw.objects.count(), LabResult.objects.count()
    if response.status_code == 200:  # refused: nothing written
        assert (draws, results) == before
    else:  # saved: one whole draw with at least one result
        assert draws == before[0] + 1 and results > before[1]
        LabDraw.objects.filter(subject=subject).order_by("-entered_at").first().delete()


@fuzz
@given(administered_at=cells, dose_mg=cells)
def test_dose_form_never_fails_or_half_writes(client, world, administered_at, dose_mg):  # noqa: F811
    client.force_login(world["coordinator"])
    subject = world["other"]
    world["other"].site.coordinators.add(world["coordinator"])
    before = Dose.objects.count()
    response = client.post(
        reverse("dose_new", args=[subject.pk]),
        {"administered_at": administered_at, "dose_mg": dose_mg},
    )
    assert response.status_code in (200, 302)
    no_script(response.content)
    assert Dose.objects.count() in (before, before + 1)
    if response.status_code == 200:
        assert Dose.objects.count() == before
