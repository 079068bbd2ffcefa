"""export_sdtm --format xpt writes SAS XPORT v5 that pyreadstat and pandas read back unchanged,
with SDTMIG names, labels and types; importing those files into an empty database gives back the
same subjects, doses and lab values."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pyreadstat
import pytest
from django.core.management import call_command

from monitoring.evaluation import runner
from monitoring.formats import sdtm, xpt
from monitoring.models import Alert, LabResult
from monitoring.services import lab_entry
from subjects.models import Dose, Subject

from .factories import make_subject, wipe_study_data

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
Entry = lab_entry.ResultEntry


@pytest.fixture
def study():
    """Two subjects dosed from their enrolment day, labs in conventional and SI units."""
    standard = make_subject("S-001", "S01", enrolled_on=START.date(), birth_date=date(1970, 5, 1))
    reduced = make_subject(
        "S-002",
        "S02",
        sex="F",
        arm="reduced",
        enrolled_on=START.date(),
        birth_date=date(1984, 2, 29),
    )
    for week in range(4):
        Dose.objects.create(
            subject=standard, administered_at=START + timedelta(weeks=week), dose_mg=200
        )
    for day in (0, 2, 4, 7):
        Dose.objects.create(
            subject=reduced, administered_at=START + timedelta(days=day), dose_mg=70
        )
    baseline = START - timedelta(days=3)
    for subject in (standard, reduced):
        lab_entry.record_draw(
            subject,
            baseline,
            [
                Entry("ALT", Decimal(20), "U/L"),
                Entry("AST", Decimal(22), "U/L", Decimal(40)),
                Entry("ALP", Decimal("1.5"), "ukat/L", Decimal("2.15")),
                Entry("TBIL", Decimal(12), "umol/L", Decimal(21)),
                Entry("LDLC", Decimal("4.6"), "mmol/L"),
                Entry("APOB", Decimal("1.2"), "g/L"),
            ],
        )
    lab_entry.record_draw(
        standard,
        START + timedelta(days=14, hours=-1),
        [
            Entry("ALT", Decimal("2.25"), "ukat/L", Decimal("0.68")),
            Entry("AST", Decimal(90), "U/L"),
        ],
    )
    return standard, reduced


def snapshot():
    subjects = sorted(
        (
            s.subject_id,
            s.site.code,
            s.sex,
            s.birth_date,
            s.arm.code.upper(),
            s.arm.name,
            s.arm.regimen.dose_mg,
            s.arm.regimen.administrations_per_week,
            s.enrolled_on,
            s.screen_failure,
        )
        for s in Subject.objects.select_related("site", "arm__regimen")
    )
    doses = sorted(Dose.objects.values_list("subject__subject_id", "administered_at", "dose_mg"))
    labs = sorted(
        (
            r.draw.subject.subject_id,
            r.draw.collected_at,
            r.analyte,
            r.value,
            r.unit,
            r.value_canonical,
            r.uln_multiple,
        )
        for r in LabResult.objects.select_related("draw__subject")
    )
    return subjects, doses, labs


def export_xpt(directory):
    call_command(
        "export_sdtm", "--output-dir", str(directory), "--format", "xpt", "--default-country", "GBR"
    )
    return [str(directory / f"{name}.xpt") for name in ("dm", "ex", "lb")]


def test_sdtm_as_xport_imports_into_an_empty_database_as_the_same_study(study, tmp_path):
    before = snapshot()
    paths = export_xpt(tmp_path)
    wipe_study_data(studies_too=True)
    assert Subject.objects.count() == 0
    call_command("import_cdisc", *reversed(paths))
    assert snapshot() == before


def test_importing_the_export_over_its_own_study_changes_no_value_multiple_or_alert(
    study, tmp_path
):
    """SDTM cannot say a ULN was hepwatch's default: it comes back as reported, same value."""
    runner.evaluate_subjects([s.pk for s in study])
    alerts = sorted(Alert.objects.values_list("subject__subject_id", "kind", "status"))
    before = snapshot()
    call_command("import_cdisc", *export_xpt(tmp_path))
    assert snapshot() == before
    assert sorted(Alert.objects.values_list("subject__subject_id", "kind", "status")) == alerts
    assert (Subject.history.count(), Dose.history.count()) == (2, 8)


@pytest.mark.parametrize("domain", ["DM", "EX", "LB"])
def test_pyreadstat_and_pandas_read_the_xport_back_unchanged(study, tmp_path, domain):
    export_xpt(tmp_path)
    path = tmp_path / f"{domain.lower()}.xpt"
    tab = {
        "DM": lambda: sdtm.dm(countries={"S01": "GBR", "S02": "GBR"}),
        "EX": sdtm.ex,
        "LB": sdtm.lb,
    }[domain]()
    expected = pd.DataFrame(
        {name: [xpt._cell(name, row.get(name)) for row in tab.rows] for name in tab.variables}
    )
    frame, meta = pyreadstat.read_xport(str(path))
    assert meta.table_name == domain and meta.file_label == xpt.DATASET_LABELS[domain]
    assert meta.column_names == tab.variables
    assert meta.column_labels == [xpt.LABELS[name] for name in tab.variables]
    assert all(len(name) <= 8 and len(xpt.LABELS[name]) <= 40 for name in tab.variables)
    for name in tab.variables:
        kind = meta.readstat_variable_types[name]
        assert kind == ("double" if name in xpt.NUMERIC else "string"), name
    pd.testing.assert_frame_equal(frame, expected, check_dtype=False)
    by_pandas = pd.read_sas(str(path), format="xport", encoding="utf-8")
    pd.testing.assert_frame_equal(by_pandas, expected, check_dtype=False)
