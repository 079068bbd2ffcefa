"""import_csv under random and hostile input: always a clear FILE:LINE: field: reason or a
clean import, never another exception, never a partial write."""

import csv
import io
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitoring import units
from monitoring.formats import csv_import, lab_csv
from monitoring.models import LabDraw, LabResult

from .factories import make_subject

pytestmark = pytest.mark.django_db

HOSTILE = [
    "",
    " ",
    "NaN",
    "nan",
    "Infinity",
    "-Infinity",
    "1e400",
    "-0",
    "0",
    "1e-30",
    "99999999999999999999",
    "12,5",
    "'; DROP TABLE monitoring_labresult; --",
    "<script>alert(1)</script>",
    "\x00",
    "\u202e41",
    "２０",
    "2026-02-30T08:00:00",
    "2026-01-05T25:00:00",
    "9999-12-31T23:59:59+14:00",
    "0001-01-01",
    "ALT",
    "alt",
    "U/L",
    "ukat/L",
    "mg/dL",
    "true",
    "S-001",
    # issue 12
    "1e-20",
    "1_000",
    "٣٠",
    "100001",
    "0.0000000000001",
    "9999-12-31T23:00-05:00",
    "0001-01-01T00:00+05:00",
    "maybe",
    "Y",
]
cells = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=30),
    st.from_regex(r"-?\d{1,14}(\.\d{1,16})?", fullmatch=True),
)


@st.composite
def lab_files(draw):
    rows = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "subject_id": st.one_of(st.just("S-001"), cells),
                    "collected_at": st.one_of(st.just("2026-01-05T08:00:00Z"), cells),
                    "test": st.one_of(st.sampled_from(["ALT", "AST", "TBIL", "LDLC"]), cells),
                    "value": st.one_of(st.just("35"), cells),
                    "unit": st.one_of(st.sampled_from(["U/L", "mg/dL", "umol/L"]), cells),
                    "uln": st.one_of(st.just(""), cells),
                    "symptoms": st.one_of(st.just("false"), cells),
                }
            ),
            min_size=1,
            max_size=6,
        )
    )
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-16", "latin-1"]))
    return out.getvalue().encode(encoding, errors="replace")


@pytest.fixture
def subject(db):
    return make_subject("S-001")


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=lab_files())
def test_any_labs_file_imports_cleanly_or_is_refused_with_a_reason(subject, content):
    counts = (LabDraw.objects.count(), LabResult.objects.count())
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "labs.csv"
        path.write_bytes(content)
        try:
            summary = lab_csv.import_labs(str(path))
        except csv_import.BadRow as bad:
            assert str(bad).startswith(f"{path}:")
            assert bad.field and bad.reason
            assert (LabDraw.objects.count(), LabResult.objects.count()) == counts
        else:
            assert summary.rows >= 1
            for result in LabResult.objects.all():
                assert result.value > 0 and result.value_canonical > 0


def test_a_ten_megabyte_line_is_refused_with_a_reason(subject, tmp_path):
    path = tmp_path / "labs.csv"
    path.write_text(
        "subject_id,collected_at,test,value,unit,uln\n"
        f"S-001,2026-01-05T08:00:00Z,ALT,{'9' * 10_000_000},U/L,\n"
    )
    with pytest.raises(csv_import.BadRow) as bad:
        lab_csv.import_labs(str(path))
    assert bad.value.line == 2
    assert LabResult.objects.count() == 0


def csv_bytes(rows, encoding="utf-8"):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode(encoding, errors="replace")


def stored_rows():
    """Every stored dose, draw and result with what it holds, to compare before and after."""
    from subjects.models import Dose, Subject

    return (
        set(Subject.objects.values_list("subject_id", "sex", "birth_date", "enrolled_on")),
        set(Dose.objects.values_list("subject_id", "administered_at", "dose_mg")),
        set(LabResult.objects.values_list("draw_id", "analyte", "value", "unit", "reported_uln")),
    )


def imported_or_refused(importer, path, before):
    """The import either refuses the file with a reason and writes nothing of it, or accepts
    it, and then every stored value is within the limits."""
    from subjects import inputs
    from subjects.models import Dose

    try:
        importer(str(path))
    except csv_import.BadRow as bad:
        assert bad.field and bad.reason
        assert stored_rows() == before
        return
    for dose in Dose.objects.all():
        inputs.check_dose(dose.dose_mg)
    for result in LabResult.objects.all():
        units.check_plausible(result.analyte, result.value, result.unit, result.reported_uln)


fuzz = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@fuzz
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {
                "subject_id": st.one_of(st.just("S-001"), cells),
                "administered_at": st.one_of(st.just("2026-01-05T09:00:00Z"), cells),
                "dose_mg": st.one_of(st.just("200"), cells),
            }
        ),
        min_size=1,
        max_size=4,
    )
)
def test_any_doses_file_imports_cleanly_or_is_refused_with_a_reason(subject, rows):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "doses.csv"
        path.write_bytes(csv_bytes(rows))
        imported_or_refused(csv_import.import_doses, path, stored_rows())


@fuzz
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {
                "subject_id": st.one_of(st.just("S-002"), cells),
                "site": st.one_of(st.just("S01"), cells),
                "sex": st.one_of(st.sampled_from(["M", "F"]), cells),
                "birth_date": st.one_of(st.just("1970-05-01"), cells),
                "arm": st.one_of(st.sampled_from(["standard", "reduced"]), cells),
                "enrolled_on": st.one_of(st.just("2026-01-01"), cells),
                "active_liver_disease": st.one_of(st.sampled_from(["true", "false", ""]), cells),
            }
        ),
        min_size=1,
        max_size=3,
    )
)
def test_any_subjects_file_imports_cleanly_or_is_refused_with_a_reason(subject, rows):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "subjects.csv"
        path.write_bytes(csv_bytes(rows))
        imported_or_refused(csv_import.import_subjects, path, stored_rows())


@fuzz
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {
                "STUDYID": st.just("HEPWATCH-MIPO"),
                "USUBJID": st.one_of(st.just("S-001"), cells),
                "LBTESTCD": st.one_of(st.sampled_from(["ALT", "BILI", "LDL", "APOB"]), cells),
                "LBORRES": st.one_of(st.just("35"), cells),
                "LBORRESU": st.one_of(st.sampled_from(["U/L", "umol/L", "mmol/L"]), cells),
                "LBORNRHI": st.one_of(st.just("40"), cells),
                "LBSTRESN": st.one_of(st.just("35"), cells),
                "LBSTRESU": st.one_of(st.just("U/L"), cells),
                "LBDTC": st.one_of(st.just("2026-01-05T08:00"), cells),
            }
        ),
        min_size=1,
        max_size=4,
    )
)
def test_any_cdisc_lb_file_imports_cleanly_or_is_refused_with_a_reason(subject, rows):
    from django.conf import settings as django_settings

    from monitoring.formats import cdisc

    for row in rows:
        row["STUDYID"] = django_settings.HEPWATCH_DEFAULT_STUDY
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "lb.csv"
        path.write_bytes(csv_bytes(rows))
        before = stored_rows()
        outcome = cdisc.import_files([str(path)])
        if outcome.errors:
            assert all(str(e).startswith(str(path)) for e in outcome.errors)
            assert stored_rows() == before
        for result in LabResult.objects.all():
            units.check_plausible(result.analyte, result.value, result.unit, result.reported_uln)
