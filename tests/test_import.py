"""import_csv: idempotent on natural keys; a bad row stops its file with FILE:LINE: field: reason
and writes nothing of that file."""

from decimal import Decimal

import pytest
from django.core.management import call_command

from monitoring.models import Alert, LabDraw, LabResult
from subjects.models import Dose, Site, Subject

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

SUBJECTS = """subject_id,site,sex,birth_date,arm,enrolled_on,active_liver_disease
S-001,S01,M,1970-05-01,standard,2026-01-01,false
S-002,S02,F,1980-05-01,reduced,2026-01-02,true
"""
LABS_HEADER = "subject_id,collected_at,test,value,unit,uln\n"
GOOD_LABS = LABS_HEADER + (
    "S-001,2026-01-04T08:00:00,ALT,30,U/L,\n"
    "S-001,2026-01-04T10:00:00+02:00,AST,25,U/L,\n"
    "S-001,2026-01-12T08:00:00Z,ALT,2.25,ukat/L,0.68\n"
    "S-002,2026-01-04T08:00:00,TBIL,12,umol/L,\n"
)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def run_import(capsys, **files):
    with pytest.raises(SystemExit) as stop:
        call_command("import_csv", **files)
    return stop.value.code, capsys.readouterr().err.strip()


@pytest.fixture
def subjects_file(tmp_path):
    path = write(tmp_path, "subjects.csv", SUBJECTS)
    call_command("import_csv", subjects=path)
    return path


def test_import_creates_sites_subjects_and_groups_rows_into_draws(tmp_path, subjects_file):
    call_command("import_csv", labs=write(tmp_path, "labs.csv", GOOD_LABS))
    assert set(Site.objects.values_list("code", flat=True)) == {"S01", "S02"}
    assert Subject.objects.get(subject_id="S-002").active_liver_disease is True
    s1 = Subject.objects.get(subject_id="S-001")
    # 08:00 UTC and 10:00+02:00 are one instant: one draw with ALT and AST.
    assert s1.draws.count() == 2
    first = s1.draws.order_by("collected_at").first()
    assert sorted(first.results.values_list("analyte", flat=True)) == ["ALT", "AST"]
    alt = LabResult.objects.get(draw__subject=s1, draw__collected_at__day=12)
    assert alt.value_canonical == Decimal(135) and alt.uln == Decimal("40.8")
    assert alt.uln_source == "reported"


def test_importing_the_same_file_twice_changes_nothing(tmp_path, subjects_file):
    labs = write(tmp_path, "labs.csv", GOOD_LABS)
    call_command("import_csv", labs=labs)
    counts = (LabDraw.objects.count(), LabResult.objects.count(), Alert.objects.count())
    history = LabResult.history.count()
    call_command("import_csv", subjects=subjects_file, labs=labs)
    assert (LabDraw.objects.count(), LabResult.objects.count(), Alert.objects.count()) == counts
    assert LabResult.history.count() == history


FIELDS = ("analyte", "value", "unit", "reported_uln", "value_canonical", "uln", "uln_multiple")


def creation_records(model, fields):
    return {
        (h.id, *(getattr(h, f) for f in fields)): h.history_change_reason
        for h in model.history.filter(history_type="+")
    }


def test_every_imported_row_has_one_creation_record_holding_its_values(tmp_path, subjects_file):
    call_command("import_csv", labs=write(tmp_path, "labs.csv", GOOD_LABS))
    stored = {(r.id, *(getattr(r, f) for f in FIELDS)) for r in LabResult.objects.all()}
    assert creation_records(LabResult, FIELDS) == dict.fromkeys(stored, "import")
    assert LabDraw.history.filter(history_type="+").count() == LabDraw.objects.count() == 3


def test_rows_keep_their_creation_records_when_another_writer_takes_keys_meanwhile(
    subjects_file,
):
    """A coordinator saves a draw while a bulk insert takes its keys: the insert's keys are
    then not one run, and its creation records must still go to its own rows only."""
    from datetime import UTC, datetime

    from lib import bulk
    from monitoring.formats.lab_csv import DRAW_FIELDS

    subject = Subject.objects.get(subject_id="S-002")
    keys = bulk.take_primary_keys(LabDraw, 6)
    theirs = LabDraw.objects.create(
        pk=keys[1],
        subject=subject,
        collected_at="2026-02-01T08:00:00Z",
        resulted_at="2026-02-01T08:00:00Z",
    )
    times = [datetime(2026, 2, day, 8, tzinfo=UTC) for day in (2, 3, 4)]
    rows = [(subject.pk, at, at, "", False, None, at) for at in times]
    ours = bulk.insert_rows(LabDraw, DRAW_FIELDS, rows, change_reason="import", keys=keys[::2])
    assert ours == keys[::2]
    assert [h.history_change_reason for h in theirs.history.filter(history_type="+")] == [None]
    imported = LabDraw.history.filter(history_type="+", history_change_reason="import")
    assert sorted(imported.values_list("id", flat=True)) == ours


def test_reimporting_a_changed_value_updates_it_with_the_reason_given(tmp_path, subjects_file):
    call_command("import_csv", labs=write(tmp_path, "labs.csv", GOOD_LABS))
    changed = GOOD_LABS.replace(
        "S-001,2026-01-04T08:00:00,ALT,30", "S-001,2026-01-04T08:00:00,ALT,31"
    )
    reason = "lab reissued the report"
    call_command("import_csv", labs=write(tmp_path, "labs2.csv", changed), reason=reason)
    result = LabResult.objects.get(analyte="ALT", draw__collected_at__day=4)
    assert result.value == Decimal(31)
    assert result.history.first().history_change_reason == reason


def test_doses_import_and_update(tmp_path, subjects_file):
    doses = "subject_id,administered_at,dose_mg\nS-001,2026-01-05T09:00:00,200\n"
    call_command("import_csv", doses=write(tmp_path, "doses.csv", doses))
    call_command(
        "import_csv",
        doses=write(tmp_path, "doses.csv", doses.replace(",200", ",70")),
        reason="pharmacy log corrected",
    )
    dose = Dose.objects.get()
    assert dose.dose_mg == Decimal(70)
    assert Alert.objects.filter(kind="missing_baseline").exists()


@pytest.mark.parametrize(
    "row, message",
    [
        (
            "S-999,2026-01-20T08:00:00,ALT,30,U/L,",
            "labs.csv:6: subject_id: unknown subject 'S-999'",
        ),
        ("S-001,2026-01-20T08:00:00,GGT,30,U/L,", "labs.csv:6: test: unknown test 'GGT'"),
        (
            "S-001,2026-01-20T08:00:00,ALT,30,mg/dL,",
            "labs.csv:6: unit: unit 'mg/dL' does not fit ALT",
        ),
        (
            "S-001,2026-01-20T08:00:00,ALT,-3,U/L,",
            "labs.csv:6: value: '-3' is not a positive number",
        ),
        ("S-001,2026-01-20T08:00:00,ALT,0,U/L,", "labs.csv:6: value: '0' is not a positive number"),
        (
            "S-001,2026-01-20T08:00:00,ALT,abc,U/L,",
            "labs.csv:6: value: 'abc' is not a positive number",
        ),
        (
            "S-001,2026-01-20T08:00:00,ALT,NaN,U/L,",
            "labs.csv:6: value: 'NaN' is not a positive number",
        ),
        (
            "S-001,2026-13-45T08:00:00,ALT,30,U/L,",
            "labs.csv:6: collected_at: '2026-13-45T08:00:00' is not",
        ),
        (
            "S-001,2026-01-20T08:00:00,ALT,30,U/L,-1",
            "labs.csv:6: uln: '-1' is not a positive number",
        ),
    ],
)
def test_bad_lab_row_stops_the_file_and_writes_nothing(
    tmp_path, capsys, subjects_file, row, message
):
    labs = write(tmp_path, "labs.csv", GOOD_LABS + row + "\n")
    code, err = run_import(capsys, labs=labs)
    assert code == 1
    assert err.startswith(message.replace("labs.csv", labs))
    assert LabDraw.objects.count() == 0 and LabResult.objects.count() == 0


def test_missing_column_names_the_column_on_line_one(tmp_path, capsys, subjects_file):
    labs = write(tmp_path, "labs.csv", "subject_id,collected_at,test,value,uln\n")
    code, err = run_import(capsys, labs=labs)
    assert (code, err) == (1, f"{labs}:1: unit: missing column")


def test_bad_subject_row_writes_no_subject_of_that_file(tmp_path, capsys):
    text = SUBJECTS + "S-003,S01,X,1970-01-01,standard,2026-01-01,false\n"
    path = write(tmp_path, "subjects.csv", text)
    code, err = run_import(capsys, subjects=path)
    assert (code, err) == (1, f"{path}:4: sex: 'X' is not M or F")
    assert Subject.objects.count() == 0 and Site.objects.count() == 0


def test_unknown_arm_is_a_bad_row(tmp_path, capsys):
    path = write(tmp_path, "s.csv", SUBJECTS.replace("reduced", "placebo"))
    code, err = run_import(capsys, subjects=path)
    assert code == 1 and err.startswith(f"{path}:3: arm: 'placebo' is not an arm of")


def test_a_bad_doses_file_does_not_stop_a_good_labs_file(tmp_path, capsys, subjects_file):
    doses = write(tmp_path, "d.csv", "subject_id,administered_at,dose_mg\nS-001,yesterday,200\n")
    labs = write(tmp_path, "labs.csv", GOOD_LABS)
    code, err = run_import(capsys, doses=doses, labs=labs)
    assert (
        code == 1 and err == f"{doses}:2: administered_at: 'yesterday' is not an ISO 8601 date-time"
    )
    assert Dose.objects.count() == 0 and LabResult.objects.count() == 4


def test_same_test_twice_in_one_draw_with_different_values_is_a_bad_row(
    tmp_path, capsys, subjects_file
):
    text = GOOD_LABS + "S-001,2026-01-04T08:00:00Z,ALT,99,U/L,\n"
    labs = write(tmp_path, "labs.csv", text)
    code, err = run_import(capsys, labs=labs)
    assert code == 1 and err.startswith(f"{labs}:6: test: ALT for this draw is on line 2")


def test_file_that_is_not_utf8_is_refused_naming_the_line(tmp_path, capsys, subjects_file):
    path = tmp_path / "labs.csv"
    bad_row = "S-001,2026-01-20T08:00:00,ALT,30,U/L,\xb5\n".encode("latin-1")
    path.write_bytes(GOOD_LABS.encode() + bad_row)
    code, err = run_import(capsys, labs=str(path))
    assert code == 1 and err == f"{path}:6: file: not UTF-8 text"
    assert LabResult.objects.count() == 0


def test_check_labs_lists_every_bad_row_and_writes_nothing(tmp_path, subjects_file):
    from monitoring.formats.lab_csv import check_labs

    text = (
        GOOD_LABS + "S-999,2026-01-20T08:00:00,ALT,30,U/L,\nS-001,2026-01-21T08:00:00,ALT,x,U/L,\n"
    )
    rows, draws, bad = check_labs(write(tmp_path, "labs.csv", text))
    assert (rows, draws) == (6, 3)
    assert [(b.line, b.field) for b in bad] == [(6, "subject_id"), (7, "value")]
    assert LabResult.objects.count() == 0


def test_arm_codes_are_matched_whatever_their_case(tmp_path):
    call_command(
        "import_csv", subjects=write(tmp_path, "s.csv", SUBJECTS.replace("reduced", "Reduced"))
    )
    assert Subject.objects.get(subject_id="S-002").arm.code == "reduced"
