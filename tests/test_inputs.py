"""Issue 12 at the command line: nothing wrong gets in, and nothing stored changes without a
reason. import_csv refuses implausible values, loose numbers, impossible date-times, loose
booleans and repeated rows, each as FILE:LINE: field: reason with nothing of the file written;
a file that would change stored values needs --reason, which the audit history keeps."""

from decimal import Decimal

import pytest
from django.core.management import call_command

from monitoring.models import LabDraw, LabResult
from subjects.models import Dose, Subject

from .test_import import run_import, write

pytestmark = pytest.mark.django_db

SUBJECTS = """subject_id,site,sex,birth_date,arm,enrolled_on,active_liver_disease
S-001,S01,M,1970-05-01,standard,2026-01-01,false
"""
LABS = "subject_id,collected_at,test,value,unit,uln\n"
DOSES = "subject_id,administered_at,dose_mg\n"
TBIL = LABS + "S-001,2026-01-04T08:00:00Z,TBIL,2.88,mg/dL,1.2\n"


def refused(capsys, **options):
    code, err = run_import(capsys, **options)
    assert code in (1, 2)
    return err


@pytest.fixture
def subject(tmp_path):
    call_command("import_csv", subjects=write(tmp_path, "subjects.csv", SUBJECTS))
    return Subject.objects.get(subject_id="S-001")


def lab_row(value="35", unit="U/L", uln="", test="ALT", when="2026-01-04T08:00:00Z", extra=""):
    return f"S-001,{when},{test},{value},{unit},{uln}{extra}\n"


def refused_labs(tmp_path, capsys, row, header=LABS):
    path = write(tmp_path, "labs.csv", header + row)
    err = refused(capsys, labs=path)
    assert LabDraw.objects.count() == 0 and LabResult.objects.count() == 0
    return err.removeprefix(f"{path}:")


# ---- plausibility limits -------------------------------------------------------------------


@pytest.mark.parametrize(
    "row, message",
    [
        (lab_row("100001"), "2: value: ALT 100001 U/L is above 100000 U/L, the highest accepted"),
        (
            lab_row("1667", "ukat/L"),
            "2: value: ALT 1667 µkat/L (100020 U/L) is above 100000 U/L",
        ),
        (lab_row("35", uln="0.5"), "2: uln: ALT ULN 0.5 U/L is below 1 U/L, the lowest accepted"),
        (lab_row("35", uln="1001"), "2: uln: ALT ULN 1001 U/L is above 1000 U/L"),
        (lab_row("101", "mg/dL", test="TBIL"), "2: value: TBIL 101 mg/dL is above 100 mg/dL"),
        (
            lab_row("2", "mg/dL", "21", test="TBIL"),
            "2: uln: TBIL ULN 21 mg/dL is above 20 mg/dL",
        ),
        (lab_row("0.05", "U/L", test="ALP"), "2: value: ALP 0.05 U/L is below 0.1 U/L"),
        (lab_row("2001", "mg/dL", test="LDLC"), "2: value: LDLC 2001 mg/dL is above 2000 mg/dL"),
        (lab_row("11", "g/L", test="APOB"), "2: value: APOB 11 g/L (1100 mg/dL) is above"),
    ],
)
def test_import_value_or_uln_outside_the_limits_is_a_bad_row(
    tmp_path, capsys, subject, row, message
):
    assert refused_labs(tmp_path, capsys, row).startswith(message)


def test_import_dose_above_the_limit_is_a_bad_row(tmp_path, capsys, subject):
    path = write(tmp_path, "doses.csv", DOSES + "S-001,2026-01-05T09:00:00Z,10001\n")
    err = refused(capsys, doses=path)
    assert err == f"{path}:2: dose_mg: 10001 mg is above 10000 mg, the highest accepted"
    assert Dose.objects.count() == 0


def test_import_values_at_the_limits_are_accepted(tmp_path, subject):
    rows = (
        lab_row("100000", uln="1")
        + lab_row("0.1", uln="1000", test="AST")
        + lab_row("100", "mg/dL", "0.1", test="TBIL")
        + lab_row("0.01", "mg/dL", "20", test="TBIL", when="2026-01-05T08:00:00Z")
    )
    call_command("import_csv", labs=write(tmp_path, "labs.csv", LABS + rows))
    multiples = sorted(LabResult.objects.values_list("uln_multiple", flat=True))
    assert multiples == [Decimal("0.0001"), Decimal("0.0005"), Decimal(1000), Decimal(100000)]


# ---- one strict decimal parser -----------------------------------------------------------


@pytest.mark.parametrize(
    "value, reason",
    [
        ("1e-20", "'1e-20' is not a positive number (write it out in digits, without an exponent)"),
        ("1e-1000000", "'1e-1000000' is not a positive number (write it out in digits"),
        ("1_000", "'1_000' is not a positive number (write it without underscores)"),
        ("１２", "'１２' is not a positive number (use the digits 0-9)"),
        ("٣٠", "'٣٠' is not a positive number (use the digits 0-9)"),
        ('"12,5"', "'12,5' is not a positive number (use a point for the decimals)"),
        ("+35", "'+35' is not a positive number"),
        ("0.0000000000001", "'0.0000000000001' rounds to 0 at the 12 decimals it is stored with"),
        ("Infinity", "'Infinity' is not a positive number"),
    ],
)
def test_import_value_that_is_not_a_plain_decimal_is_a_bad_row(
    tmp_path, capsys, subject, value, reason
):
    assert refused_labs(tmp_path, capsys, lab_row(value)).startswith(f"2: value: {reason}")


def test_import_dose_that_rounds_to_zero_cents_is_a_bad_row(tmp_path, capsys, subject):
    path = write(tmp_path, "doses.csv", DOSES + "S-001,2026-01-05T09:00:00Z,0.001\n")
    err = refused(capsys, doses=path)
    assert err.startswith(f"{path}:2: dose_mg: '0.001' rounds to 0 at the 2 decimals")


# ---- one date-time check -------------------------------------------------------------------


@pytest.mark.parametrize(
    "when, reason",
    [
        ("9999-12-31T23:00-05:00", "9999-12-31T23:00:00-05:00 is outside the years 1900 to now"),
        ("0001-01-01T00:00+05:00", "0001-01-01T00:00:00+05:00 is outside the years 1900 to now"),
        ("1899-12-31T08:00:00Z", "1899-12-31T08:00:00+00:00 is before 1900"),
        ("2999-01-01T08:00:00Z", "2999-01-01T08:00:00+00:00 is later than now"),
        ("2026-01-04T08:00+18:00", "2026-01-04T08:00:00+18:00 has an offset outside"),
    ],
)
def test_import_collection_time_outside_1900_to_now_is_a_bad_row(
    tmp_path, capsys, subject, when, reason
):
    err = refused_labs(tmp_path, capsys, lab_row(when=when))
    assert err.startswith(f"2: collected_at: {reason}")


def test_import_administration_time_later_than_now_is_a_bad_row(tmp_path, capsys, subject):
    path = write(tmp_path, "doses.csv", DOSES + "S-001,9999-12-31T23:00-05:00,200\n")
    assert refused(capsys, doses=path).startswith(f"{path}:2: administered_at: 9999-12-31")


@pytest.mark.parametrize(
    "birth_date, reason",
    [
        ("2999-01-01", "2999-01-01 is later than today"),
        ("0001-01-01", "0001-01-01 is before 1900"),
        ("2026-02-01", "2026-02-01 is after the enrolment date (2026-01-01)"),
    ],
)
def test_import_impossible_birth_date_is_a_bad_row(tmp_path, capsys, birth_date, reason):
    path = write(tmp_path, "s.csv", SUBJECTS.replace("1970-05-01", birth_date))
    assert refused(capsys, subjects=path) == f"{path}:2: birth_date: {reason}"
    assert Subject.objects.count() == 0


def test_import_symptoms_maybe_is_a_bad_row(tmp_path, capsys, subject):
    err = refused_labs(tmp_path, capsys, lab_row(extra=",maybe"), LABS[:-1] + ",symptoms\n")
    assert err == "2: symptoms: 'maybe' is not true or false"


def test_import_liver_disease_yes_is_a_bad_row(tmp_path, capsys):
    path = write(tmp_path, "s.csv", SUBJECTS.replace(",false", ",yes"))
    assert (
        refused(capsys, subjects=path)
        == f"{path}:2: active_liver_disease: 'yes' is not true or false"
    )


def test_import_empty_liver_disease_leaves_the_stored_flag(tmp_path, subject):
    Subject.objects.filter(pk=subject.pk).update(active_liver_disease=True)
    call_command("import_csv", subjects=write(tmp_path, "s.csv", SUBJECTS.replace(",false", ",")))
    assert Subject.objects.get(pk=subject.pk).active_liver_disease is True


# ---- duplicates ------------------------------------------------------------------------------


def test_import_the_same_lab_row_twice_is_a_bad_row_naming_both_lines(tmp_path, capsys, subject):
    err = refused_labs(tmp_path, capsys, lab_row() + lab_row(when="2026-01-04T09:00+01:00"))
    assert err == "3: test: ALT for this draw is on line 2 too (line 3)"


def test_import_the_same_dose_row_twice_is_a_bad_row_naming_both_lines(tmp_path, capsys, subject):
    row = "S-001,2026-01-05T09:00:00Z,200\n"
    path = write(tmp_path, "doses.csv", DOSES + row + row)
    err = refused(capsys, doses=path)
    assert err == f"{path}:3: administered_at: a dose at this time is on line 2 too (line 3)"
    assert Dose.objects.count() == 0


def test_import_the_same_subject_row_twice_is_a_bad_row_naming_both_lines(tmp_path, capsys):
    path = write(tmp_path, "s.csv", SUBJECTS + SUBJECTS.splitlines()[1] + "\n")
    err = refused(capsys, subjects=path)
    assert err == f"{path}:3: subject_id: subject 'S-001' is on line 2 too (line 3)"


# ---- every overwrite asks why -----------------------------------------------------------------


def test_import_over_a_stored_value_without_reason_is_refused_listing_old_and_new(
    tmp_path, capsys, subject
):
    call_command("import_csv", labs=write(tmp_path, "labs.csv", TBIL))
    over = write(tmp_path, "labs2.csv", TBIL.replace("2.88,mg/dL,1.2", "1.2,umol/L,20"))
    err = refused(capsys, labs=over)
    assert err.splitlines() == [
        f"{over}:2: reason: 1 stored value would change; a reason for the change is required",
        f"{over}:2: S-001 draw of 2026-01-04 08:00 UTC: TBIL: 2.88 mg/dL (2.40× ULN) → "
        "1.2 µmol/L (0.06× ULN)",
        "Nothing of it was written. Give --reason to say why.",
    ]
    assert LabResult.objects.get().value == Decimal("2.88")


def test_import_over_a_stored_value_with_reason_keeps_the_reason_in_history(tmp_path, subject):
    call_command("import_csv", labs=write(tmp_path, "labs.csv", TBIL))
    over = write(tmp_path, "labs2.csv", TBIL.replace("2.88", "2.7"))
    call_command("import_csv", labs=over, reason="lab corrected the report")
    result = LabResult.objects.get()
    assert result.value == Decimal("2.7")
    assert result.history.first().history_change_reason == "lab corrected the report"


def test_import_over_a_stored_dose_without_reason_is_refused(tmp_path, capsys, subject):
    call_command("import_csv", doses=write(tmp_path, "d.csv", DOSES + "S-001,2026-01-05,200\n"))
    err = refused(capsys, doses=write(tmp_path, "d2.csv", DOSES + "S-001,2026-01-05,70\n"))
    assert "S-001 dose at 2026-01-05 00:00 UTC: 200 mg → 70 mg" in err
    assert Dose.objects.get().dose_mg == 200


def test_import_over_a_stored_subject_with_reason_keeps_it_in_history(tmp_path, subject):
    changed = write(tmp_path, "s2.csv", SUBJECTS.replace(",M,", ",F,"))
    call_command("import_csv", subjects=changed, reason="sex entered wrongly at screening")
    stored = Subject.objects.get()
    assert stored.sex == "F"
    assert stored.history.first().history_change_reason == "sex entered wrongly at screening"


def test_import_reason_of_zero_width_characters_is_refused(tmp_path, capsys, subject):
    call_command("import_csv", labs=write(tmp_path, "labs.csv", TBIL))
    over = write(tmp_path, "labs2.csv", TBIL.replace("2.88", "2.7"))
    err = refused(capsys, labs=over, reason="\u200b\u200b")
    assert err == "--reason has no visible text, only invisible characters."
    assert LabResult.objects.get().value == Decimal("2.88")


# ---- CDISC -----------------------------------------------------------------------------------


def cdisc_refused(capsys, *paths, **options):
    with pytest.raises(SystemExit) as stop:
        call_command("import_cdisc", *paths, **options)
    assert stop.value.code == 1
    return capsys.readouterr().err.strip()


def test_cdisc_truncated_transport_file_is_refused_and_nothing_is_read(tmp_path, capsys):
    from .test_cdisc import DM_RECORDS, write_xpt

    path = write_xpt(tmp_path / "dm.xpt", "DM", DM_RECORDS * 20)
    content = (tmp_path / "dm.xpt").read_bytes()
    (tmp_path / "dm.xpt").write_bytes(content[: len(content) - 200])
    err = cdisc_refused(capsys, path)
    assert err.startswith(f"{path}:0: file: cut short: its {len(content) - 200} bytes are not")
    assert Subject.objects.count() == 0


def test_cdisc_transport_file_cut_at_a_card_boundary_is_refused_by_its_record_count(
    tmp_path, capsys
):
    from .test_cdisc import DM_RECORDS, write_xpt

    path = write_xpt(tmp_path / "dm.xpt", "DM", DM_RECORDS * 20)
    content = (tmp_path / "dm.xpt").read_bytes()
    (tmp_path / "dm.xpt").write_bytes(content[: len(content) - 800])
    err = cdisc_refused(capsys, path)
    assert "damaged or cut short: pyreadstat read" in err and "but its data holds" in err
    assert Subject.objects.count() == 0


def test_cdisc_transport_file_with_damaged_namestr_is_refused_with_the_reason(tmp_path, capsys):
    from .test_cdisc import DM_RECORDS, write_xpt

    path = write_xpt(tmp_path / "dm.xpt", "DM", DM_RECORDS)
    content = bytearray((tmp_path / "dm.xpt").read_bytes())
    at = content.index(b"HEADER RECORD*******NAMESTR")
    content[at : at + 10] = b"XXXXXXXXXX"
    (tmp_path / "dm.xpt").write_bytes(bytes(content))
    err = cdisc_refused(capsys, path)
    assert err == (
        f"{path}:0: file: not a readable SAS XPORT file (its headers (library, member or "
        "NAMESTR records) are damaged)"
    )


@pytest.mark.parametrize(
    "birth, reason",
    [
        ("2999-01-01", "2999-01-01T00:00:00+00:00 is later than now"),
        ("0001-01-01", "0001-01-01T00:00:00+00:00 is before 1900"),
        ("2014-01-03", "2014-01-03 is after the enrolment date (2014-01-02)"),
    ],
)
def test_cdisc_dm_impossible_birth_date_is_a_bad_row(tmp_path, capsys, birth, reason):
    from .test_cdisc import DM_RECORDS, write_xpt

    records = [{**DM_RECORDS[0], "BRTHDTC": birth}]
    path = write_xpt(tmp_path / "dm.xpt", "DM", records)
    assert cdisc_refused(capsys, path) == f"{path}:1: BRTHDTC: {reason}"
    assert Subject.objects.count() == 0


def test_cdisc_dm_subject_twice_is_a_bad_row_naming_both_records(tmp_path, capsys):
    from .test_cdisc import DM_RECORDS, write_xpt

    path = write_xpt(tmp_path / "dm.xpt", "DM", [DM_RECORDS[0], DM_RECORDS[0]])
    err = cdisc_refused(capsys, path)
    assert err == f"{path}:2: USUBJID: '01-701-1015' is on record 1 too (record 2)"


def test_cdisc_lb_value_outside_the_limits_is_a_bad_row(tmp_path, capsys):
    from .test_cdisc import DM_RECORDS, LB_RECORDS, lb_record, write_xpt

    call_command("import_cdisc", write_xpt(tmp_path / "dm.xpt", "DM", DM_RECORDS))
    huge = lb_record("01-701-1015", 9, "ALT", 2000, "ukat/L", 0.68, "2014-01-20T08:00")
    path = write_xpt(tmp_path / "lb.xpt", "LB", LB_RECORDS + [huge])
    err = cdisc_refused(capsys, path)
    assert err.startswith(f"{path}:9: LBORRES: ALT 2000 µkat/L (120000 U/L) is above 100000 U/L")
    assert LabResult.objects.count() == 0


def test_cdisc_ex_dose_above_the_limit_is_a_bad_row(tmp_path, capsys):
    from .test_cdisc import DM_RECORDS, ex_record, write_xpt

    call_command("import_cdisc", write_xpt(tmp_path / "dm.xpt", "DM", DM_RECORDS))
    record = {**ex_record("01-701-1028", 1, "X", 20.0, "2013-07-19", "2013-07-19"), "EXDOSU": "g"}
    path = write_xpt(tmp_path / "ex.xpt", "EX", [record])
    err = cdisc_refused(capsys, path)
    assert err == f"{path}:1: EXDOSE: 20000 mg is above 10000 mg, the highest accepted"
    assert Dose.objects.count() == 0


def test_cdisc_lb_over_stored_values_needs_a_reason_kept_in_history(tmp_path, capsys):
    from .test_cdisc import DM_RECORDS, LB_RECORDS, lb_record, write_xpt

    call_command("import_cdisc", write_xpt(tmp_path / "dm.xpt", "DM", DM_RECORDS))
    call_command("import_cdisc", write_xpt(tmp_path / "lb.xpt", "LB", LB_RECORDS))
    capsys.readouterr()
    corrected = lb_record("01-701-1015", 7, "ALT", 0.5, "ukat/L", 0.68, "2014-01-16T13:17")
    path = write_xpt(tmp_path / "lb2.xpt", "LB", LB_RECORDS[:6] + [corrected])
    err = cdisc_refused(capsys, path)
    assert (
        f"{path}:7: 01-701-1015 draw of 2014-01-16 13:17 UTC: ALT: 2.25 µkat/L (3.30× ULN) → "
        "0.5 µkat/L (0.73× ULN)"
    ) in err.splitlines()
    call_command("import_cdisc", path, reason="sponsor's data correction DC-12")
    alt = LabResult.objects.get(analyte="ALT", draw__collected_at__day=16)
    assert alt.value == Decimal("0.5")
    assert alt.history.first().history_change_reason == "sponsor's data correction DC-12"
