"""The plausibility limits (subjects/inputs.py) hold nothing that can break a page: every value
and ULN they allow, in every unit, fits every column it is stored in, and a subject holding
the largest and smallest of them answers every one of its pages with 200."""

import io
import zipfile
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from monitoring import units
from monitoring.models import Alert, LabResult
from monitoring.services import lab_entry
from subjects import inputs
from subjects.models import Dose

from .factories import make_subject
from .world import make_user

# LabResult's columns: (digits, decimals).
VALUE, CANONICAL, ULN, MULTIPLE = (24, 12), (24, 12), (24, 12), (18, 6)


def fits(number, column):
    digits, places = column
    rounded = units.as_decimal(Fraction(number), places)
    return rounded > 0 and abs(rounded) < Decimal(10) ** (digits - places)


def extremes(analyte):
    """(value, ULN) pairs at the corners of the analyte's limits, in the canonical unit."""
    limits = inputs.LAB_LIMITS[analyte]
    ulns = [limits.uln.low, limits.uln.high] if limits.uln else [None]
    return [(v, u) for v in (limits.value.low, limits.value.high) for u in ulns]


def test_every_analyte_has_plausibility_limits():
    assert set(units.ANALYTES) <= set(inputs.LAB_LIMITS)


@pytest.mark.parametrize("analyte", sorted(units.ANALYTES))
def test_every_value_and_uln_inside_the_limits_fits_every_column_in_every_unit(analyte):
    spec = units.ANALYTES[analyte]
    for value, uln in extremes(analyte):
        for unit, factor in spec.units.items():
            entered = Fraction(value) / factor
            assert fits(entered, VALUE) and fits(value, CANONICAL), (analyte, unit, value)
            if uln is not None:
                assert fits(Fraction(uln) / factor, VALUE) and fits(uln, ULN)
                assert fits(Fraction(value) / Fraction(uln), MULTIPLE), (analyte, value, uln)


def test_every_dose_inside_the_limit_fits_the_dose_column():
    assert inputs.DOSE_MG.high < Decimal(10) ** (8 - 2)


# ---- a subject at the limits, crawled --------------------------------------------------------

NOW = timezone.now().replace(microsecond=0, second=0)


@pytest.fixture
def extreme(db, django_capture_on_commit_callbacks):
    """A subject with a draw at each corner of the limits (every analyte's highest or lowest
    value over its highest or lowest ULN), one near the highest values in the other unit with
    no ULN given, and doses of 0 mg and 10000 mg."""
    subject = make_subject("MIP-X", "S01", enrolled_on=(NOW - timedelta(days=30)).date())
    with django_capture_on_commit_callbacks(execute=True):
        Dose.objects.create(subject=subject, administered_at=NOW - timedelta(days=20), dose_mg=0)
        Dose.objects.create(
            subject=subject, administered_at=NOW - timedelta(days=19), dose_mg=inputs.DOSE_MG.high
        )
        for corner in range(4):
            entries = [
                lab_entry.ResultEntry(analyte, value, spec.canonical_unit, uln)
                for analyte, spec in units.ANALYTES.items()
                for value, uln in [extremes(analyte)[corner % len(extremes(analyte))]]
            ]
            lab_entry.record_draw(subject, NOW - timedelta(days=10 - corner), entries)
        lab_entry.record_draw(
            subject, NOW - timedelta(days=5), [other_unit_high(a) for a in units.ANALYTES]
        )
    for result in LabResult.objects.filter(draw__subject=subject):
        units.check_plausible(result.analyte, result.value, result.unit, result.reported_uln)
    return subject


def other_unit_high(analyte):
    """The analyte's highest value, to 6 decimals, in its other unit (the canonical one when
    it has no other)."""
    spec, high = units.ANALYTES[analyte], inputs.LAB_LIMITS[analyte].value.high
    unit, factor = next(
        ((u, f) for u, f in spec.units.items() if u != spec.canonical_unit),
        (spec.canonical_unit, Fraction(1)),
    )
    value = units.as_decimal(Fraction(high) / factor, 6)
    while Fraction(value) * factor > high:
        value -= Decimal("0.000001")
    return lab_entry.ResultEntry(analyte, value, unit)


def crawl_urls(subject):
    result = LabResult.objects.filter(draw__subject=subject).first()
    entry = [
        reverse("draw_new", args=[subject.pk]),
        reverse("dose_new", args=[subject.pk]),
        reverse("result_correct", args=[result.pk]),
    ]
    urls = [
        reverse("subject", args=[subject.pk]),
        reverse("subject_history", args=[subject.pk]),
        reverse("subject_report_pdf", args=[subject.pk]),
        reverse("subject_report_csv", args=[subject.pk]),
        reverse("subjects"),
        reverse("subjects") + "?export=csv",
        reverse("subjects") + "?export=xlsx",
        reverse("alerts"),
        reverse("alerts") + "?export=xlsx",
        reverse("dashboard"),
        reverse("study_report"),
        reverse("study_export_download", args=["labs", "csv"]),
        reverse("study_export_download", args=["labs", "xlsx"]),
        reverse("study_export_download", args=["study", "xlsx"]),
    ]
    urls += [reverse("draw", args=[d.pk]) for d in subject.draws.all()]
    urls += [reverse("alert", args=[a.pk]) for a in Alert.objects.filter(subject=subject)]
    return entry, urls


def test_every_page_of_a_subject_at_the_limits_answers_200(client, extreme, tmp_path):
    coordinator = make_user("chloe", "coordinator")
    extreme.site.coordinators.add(coordinator)
    multiples = set(
        LabResult.objects.filter(draw__subject=extreme).values_list("uln_multiple", flat=True)
    )
    assert Decimal(100000) in multiples and Decimal("0.0001") in multiples
    entry, urls = crawl_urls(extreme)
    assert Alert.objects.filter(subject=extreme).exists()
    client.force_login(coordinator)
    for url in entry:
        assert client.get(url).status_code == 200, url
    client.force_login(make_user("sam", is_staff=True, is_superuser=True))
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        if url.endswith("xlsx"):
            zipfile.ZipFile(io.BytesIO(response.content)).testzip()
    for fmt in ("csv", "xpt"):
        call_command(
            "export_sdtm",
            output_dir=str(tmp_path / fmt),
            format=fmt,
            default_country="GBR",
        )
        assert (tmp_path / fmt / f"lb.{fmt}").stat().st_size > 0
