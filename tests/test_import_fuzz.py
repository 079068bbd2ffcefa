"""import_csv under random and hostile input: always a clear FILE:LINE: field: reason or a
clean import, never another exception, never a partial write."""

import csv
import io
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitoring import imports
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
            summary = imports.import_labs(str(path))
        except imports.BadRow as bad:
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
    with pytest.raises(imports.BadRow) as bad:
        imports.import_labs(str(path))
    assert bad.value.line == 2
    assert LabResult.objects.count() == 0
