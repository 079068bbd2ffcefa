"""Study exports: what is exported re-imports with import_csv to the same data; text cells that a
spreadsheet would run as formulas are escaped, numbers (negative ones too) are not; only
monitors, reviewers and staff may download them."""

import csv
import io
import re
import zipfile
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse
from openpyxl import load_workbook

from monitoring.formats import exports, spreadsheets
from monitoring.models import Alert, Decision, LabResult
from subjects.models import Dose, Site, Subject

from .factories import wipe_study_data

pytestmark = pytest.mark.django_db

NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def snapshot():
    """The study's data by natural keys, as the import format defines it."""
    subjects = sorted(
        Subject.objects.values_list(
            "subject_id",
            "site__code",
            "sex",
            "birth_date",
            "arm__code",
            "enrolled_on",
            "active_liver_disease",
        )
    )
    doses = sorted(Dose.objects.values_list("subject__subject_id", "administered_at", "dose_mg"))
    labs = sorted(
        (
            r.draw.subject.subject_id,
            r.draw.collected_at,
            r.analyte,
            r.value,
            r.unit,
            r.reported_uln,
            r.draw.symptoms_of_liver_injury,
            r.uln,
            r.uln_multiple,
        )
        for r in LabResult.objects.select_related("draw__subject")
    )
    return subjects, doses, labs


def test_exported_subjects_doses_and_labs_reimport_to_the_same_data(world, tmp_path):
    # A result entered in SI units with a reported ULN, to round-trip units and ULNs too.
    from monitoring.services import lab_entry

    lab_entry.record_draw(
        world["other"],
        world["own"].draws.first().collected_at.replace(hour=9),
        [
            lab_entry.ResultEntry("ALT", Decimal("0.55"), "ukat/L", Decimal("0.58")),
            lab_entry.ResultEntry("TBIL", Decimal("12.3"), "umol/L"),
            lab_entry.ResultEntry("APOB", Decimal("1.05"), "g/L"),
        ],
        symptoms=True,
    )
    before = snapshot()
    assert len(before[2]) > 10
    first = tmp_path / "first"
    exports.export_study(first, formats=("csv",))

    wipe_study_data()
    assert snapshot() == ([], [], [])
    call_command(
        "import_csv",
        subjects=str(first / "subjects.csv"),
        doses=str(first / "doses.csv"),
        labs=str(first / "labs.csv"),
    )
    assert snapshot() == before
    # And exporting again gives the same files, byte for byte.
    second = tmp_path / "second"
    exports.export_study(second, formats=("csv",))
    for name in ("subjects", "doses", "labs"):
        assert (second / f"{name}.csv").read_bytes() == (first / f"{name}.csv").read_bytes()


def test_exported_alerts_list_every_alert_in_the_export_alerts_columns(world, tmp_path):
    exports.export_study(tmp_path, formats=("csv",))
    with open(tmp_path / "alerts.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[:7] == [
        "subject_id",
        "kind",
        "severity",
        "status",
        "triggered_at",
        "due_by",
        "rule",
    ]
    assert len(rows) == Alert.objects.count()
    with open(tmp_path / "decisions.csv", encoding="utf-8") as handle:
        (decision,) = list(csv.DictReader(handle))
    assert decision["action"] == "discontinue" and decision["reviewer"] == "rita"
    assert decision["signed_at"].endswith("Z")


@pytest.fixture
def hostile(world):
    """Text fields a spreadsheet would run: =, +, -, @ at the start."""
    Site.objects.filter(code="S01").update(name='=HYPERLINK("http://evil","x")')
    Dose.objects.filter(subject=world["own"]).update(given_despite="@SUM(A1:A9)")
    Decision.objects.update(reason="+1+cmd|' /C calc'!A0")
    Alert.objects.filter(kind="discontinue").update(status_reason="-2+3")
    return world


def test_formula_cells_are_escaped_in_csv(hostile, tmp_path):
    exports.export_study(tmp_path, formats=("csv",))
    cells = {}
    for name in exports.DATASETS:
        with open(tmp_path / f"{name}.csv", encoding="utf-8") as handle:
            cells[name] = [cell for row in csv.reader(handle) for cell in row]
    assert '\'=HYPERLINK("http://evil","x")' in cells["subjects"]
    assert "'@SUM(A1:A9)" in cells["doses"]
    assert "'+1+cmd|' /C calc'!A0" in cells["decisions"]
    assert "'-2+3" in cells["alerts"]
    # No cell starts a formula unless it is a plain number.
    for name, values in cells.items():
        for value in values:
            if value[:1] in ("=", "+", "-", "@", "\t", "\r"):
                assert NUMBER.match(value), (name, value)


def test_formula_cells_are_text_in_xlsx_with_their_exact_value(hostile, tmp_path):
    exports.export_study(tmp_path, formats=("xlsx",))
    book = load_workbook(tmp_path / "study.xlsx")
    assert book.sheetnames == list(exports.DATASETS)
    found = {}
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and cell.value[:1] in "=+-@":
                    assert cell.data_type == "s", (sheet.title, cell.coordinate)
                    assert cell.quotePrefix, (sheet.title, cell.coordinate)
                    found[cell.value] = sheet.title
    assert found['=HYPERLINK("http://evil","x")'] == "subjects"
    assert found["@SUM(A1:A9)"] == "doses"
    assert found["+1+cmd|' /C calc'!A0"] == "decisions"
    # Numbers are numbers.
    labs = book["labs"]
    header = [c.value for c in labs[1]]
    values = [row[header.index("value")] for row in labs.iter_rows(min_row=2, values_only=True)]
    assert all(isinstance(v, int | float | Decimal) for v in values)


def test_numbers_negative_ones_included_are_never_escaped():
    assert spreadsheets.csv_cell(Decimal("-5.50")) == "-5.5"
    assert spreadsheets.csv_cell(-22.22) == "-22.22"
    assert spreadsheets.csv_cell(0) == "0"
    assert spreadsheets.csv_cell("-5 mg given") == "'-5 mg given"
    assert spreadsheets.csv_cell("MIP-001") == "MIP-001"
    assert spreadsheets.csv_cell(None) == "" and spreadsheets.csv_cell(True) == "true"


@pytest.mark.parametrize("role", ["monitor", "reviewer", "staff"])
def test_monitor_reviewer_and_staff_download_study_exports(client, world, role):
    client.force_login(world[role])
    assert client.get(reverse("study_exports")).status_code == 200
    labs = client.get(reverse("study_export_download", args=["labs", "csv"]))
    assert labs.status_code == 200 and labs["Content-Type"].startswith("text/csv")
    assert labs.content.decode().startswith("subject_id,collected_at,test,value,unit,uln")
    book = client.get(reverse("study_export_download", args=["study", "xlsx"]))
    assert load_workbook(io.BytesIO(book.content)).sheetnames == list(exports.DATASETS)
    bundle = client.get(reverse("study_export_download", args=["study", "csv"]))
    assert sorted(zipfile.ZipFile(io.BytesIO(bundle.content)).namelist()) == sorted(
        f"{n}.csv" for n in exports.DATASETS
    )
    assert client.get("/reports/exports/secrets.csv").status_code == 404


def test_coordinator_cannot_download_study_exports(client, world):
    client.force_login(world["coordinator"])
    assert client.get(reverse("study_exports")).status_code == 403
    assert client.get(reverse("study_export_download", args=["labs", "csv"])).status_code == 403


def test_export_study_command_writes_csv_files_and_a_workbook(world, tmp_path):
    call_command("export_study", "--output-dir", str(tmp_path))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted([*(f"{n}.csv" for n in exports.DATASETS), "study.xlsx"])


# ---- every export goes through the one writer ------------------------------------------------

FORMULA = '=HYPERLINK("http://x","y")'


@pytest.fixture
def formula_subject(world, django_capture_on_commit_callbacks):
    """A subject whose ID, site code and arm name are each a spreadsheet formula, with an alert."""
    from monitoring.services import lab_entry
    from subjects.models import Arm, Regimen

    from .factories import make_subject, results
    from .world import at

    study = world["own"].study
    regimen = Regimen.objects.create(
        study=study, code="formula", name=FORMULA, dose_mg=200, administrations_per_week=1
    )
    Arm.objects.create(study=study, code="formula", name=FORMULA, regimen=regimen)
    subject = make_subject(FORMULA, FORMULA, arm="formula")
    with django_capture_on_commit_callbacks(execute=True):
        lab_entry.record_draw(subject, at(2), results(ALT=300, AST=30))
    assert Alert.objects.filter(subject=subject).exists()
    return subject


def assert_csv_holds_no_formula(text):
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert f"'{FORMULA}" in cells
    for cell in cells:
        if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
            assert NUMBER.match(cell), cell


def assert_xlsx_holds_no_formula(content):
    book = load_workbook(io.BytesIO(content))
    texts = []
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str) and cell.value[:1] in "=+-@":
                    assert cell.quotePrefix, (sheet.title, cell.coordinate)
                    texts.append(cell.value)
    assert FORMULA in texts


@pytest.mark.parametrize(
    "url",
    [
        "/subjects/?export={}",
        "/alerts/?status=all&export={}",
        "/reports/exports/subjects.{}",
        "/reports/exports/alerts.{}",
    ],
)
def test_every_page_export_holds_no_formula(client, world, formula_subject, url):
    client.force_login(world["monitor"])
    as_csv = client.get(url.format("csv"))
    assert as_csv.status_code == 200 and as_csv["Content-Type"].startswith("text/csv")
    assert_csv_holds_no_formula(as_csv.content.decode())
    as_xlsx = client.get(url.format("xlsx"))
    assert as_xlsx.status_code == 200
    assert_xlsx_holds_no_formula(as_xlsx.content)


def test_subject_report_csv_bundle_holds_no_formula(client, world, formula_subject):
    client.force_login(world["monitor"])
    bundle = client.get(reverse("subject_report_csv", args=[formula_subject.pk]))
    files = zipfile.ZipFile(io.BytesIO(bundle.content))
    assert_csv_holds_no_formula(files.read("subject.csv").decode())


def test_export_alerts_command_holds_no_formula(formula_subject, tmp_path):
    out = tmp_path / "alerts.csv"
    call_command("export_alerts", output=str(out))
    assert_csv_holds_no_formula(out.read_text(encoding="utf-8"))
