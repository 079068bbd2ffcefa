"""The entry forms under random and hostile input, through HTTP as a coordinator: always a
page with the field's error or a saved entry, never a 500, never a partial write, and never
script from the input in the page."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitoring import units
from monitoring.models import LabDraw, LabResult
from subjects import inputs
from subjects.models import Dose

from .test_views import two_sites  # noqa: F401 (fixture)

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
    # issue 12: loose numbers, the limits' edges, impossible date-times, invisible reasons
    "1e-20",
    "1e-1000000",
    "1_000",
    "１２",
    "٣٠",
    "0.0000000000001",
    "100000",
    "100001",
    "0.1",
    "0.01",
    "1000",
    "10000",
    "10001",
    "9999-12-31T23:00-05:00",
    "0001-01-01T00:00+05:00",
    "2026-01-01T00:00+23:59",
    "\u200b\u200b",
]
numbers = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.floats().map(repr),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.from_regex(r"\d{1,16}(\.\d{1,16})?", fullmatch=True),
)
cells = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=40), numbers)
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
def test_draw_form_never_fails_or_half_writes(client, two_sites, data):  # noqa: F811
    client.force_login(two_sites["coordinator"])
    subject = two_sites["own"]
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
        draw = LabDraw.objects.filter(subject=subject).order_by("-entered_at").first()
        for r in draw.results.all():
            units.check_plausible(r.analyte, r.value, r.unit, r.reported_uln)
        draw.delete()


@fuzz
@given(administered_at=cells, dose_mg=cells)
def test_dose_form_never_fails_or_half_writes(client, two_sites, administered_at, dose_mg):  # noqa: F811
    client.force_login(two_sites["coordinator"])
    subject = two_sites["other"]
    two_sites["other"].site.coordinators.add(two_sites["coordinator"])
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
    else:
        assert inputs.check_dose(Dose.objects.latest("pk").dose_mg) is not None


@fuzz
@given(data=st.dictionaries(st.sampled_from(["value", "unit", "reported_uln", "reason"]), cells))
def test_correction_form_never_fails_or_half_writes(client, two_sites, data):  # noqa: F811
    client.force_login(two_sites["coordinator"])
    result = two_sites["result"]
    stored = LabResult.objects.get(pk=result.pk)
    before = (stored.value, stored.unit, stored.reported_uln, stored.history.count())
    form = {"value": "140", "unit": "U/L", "reason": "typo", **data}
    response = client.post(reverse("result_correct", args=[result.pk]), form)
    assert response.status_code in (200, 302)
    no_script(response.content)
    stored = LabResult.objects.get(pk=result.pk)
    if response.status_code == 200:  # refused: nothing written
        assert (stored.value, stored.unit, stored.reported_uln, stored.history.count()) == before
    else:  # saved whole, within the limits, with a visible reason
        units.check_plausible(stored.analyte, stored.value, stored.unit, stored.reported_uln)
        assert inputs.visible_text(stored.history.first().history_change_reason)
        LabResult.objects.filter(pk=result.pk).update(
            value=before[0], unit=before[1], reported_uln=before[2]
        )
