"""import_cdisc: a sponsor's SDTM (DM, EX, LB) and ADaM (ADSL, ADLB) files, SAS XPORT or CSV,
become subjects, doses and labs; the alerts follow the rule table. The fixtures are made here
with pyreadstat, shaped like the CDISC pilot study's files."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pandas as pd
import pyreadstat
import pytest
from django.core.management import call_command

from monitoring.evaluation import runner
from monitoring.formats import cdisc
from monitoring.formats.cdisc import exposure, subject_level, values
from monitoring.formats.csv_import import BadRow
from monitoring.models import Alert, LabDraw, LabResult
from subjects.models import Arm, Dose, Subject

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

STUDY = "CDISCPILOT01"
PLACEBO_ZERO = 5.4e-79  # how the pilot's XPORT stores a placebo's 0 mg


def write_xpt(path, name, rows):
    """An XPORT v5 file; date values become SAS dates (DATE9.), as ADaM stores them."""
    frame = pd.DataFrame(rows)
    formats = {c: "DATE9." for c in frame if isinstance(frame[c].dropna().iloc[0], date)}
    for column in frame:
        if frame[column].dtype == object and column not in formats:
            frame[column] = frame[column].fillna("")
    pyreadstat.write_xport(
        frame, str(path), table_name=name, file_format_version=5, variable_format=formats
    )
    return str(path)


def dm_record(usubjid, sex, age, armcd, arm, rfstdtc, dmdtc="2013-07-01", site="701"):
    return {
        "STUDYID": STUDY,
        "DOMAIN": "DM",
        "USUBJID": usubjid,
        "SUBJID": usubjid[-4:],
        "RFSTDTC": rfstdtc,
        "SITEID": site,
        "AGE": float(age),
        "AGEU": "YEARS",
        "SEX": sex,
        "ARMCD": armcd,
        "ARM": arm,
        "ACTARMCD": armcd,
        "ACTARM": arm,
        "COUNTRY": "USA",
        "DMDTC": dmdtc,
    }


DM_RECORDS = [
    dm_record("01-701-1015", "F", 63, "Pbo", "Placebo", "2014-01-02"),
    dm_record("01-701-1028", "M", 71, "Xan_Hi", "Xanomeline High Dose", "2013-07-19"),
    dm_record("01-701-1057", "F", 59, "Scrnfail", "Screen Failure", "", dmdtc="2013-12-20"),
]


def ex_record(usubjid, seq, treatment, dose, start, end, frequency="QD"):
    return {
        "STUDYID": STUDY,
        "DOMAIN": "EX",
        "USUBJID": usubjid,
        "EXSEQ": float(seq),
        "EXTRT": treatment,
        "EXDOSE": dose,
        "EXDOSU": "mg",
        "EXDOSFRM": "PATCH",
        "EXDOSFRQ": frequency,
        "EXROUTE": "TRANSDERMAL",
        "EXSTDTC": start,
        "EXENDTC": end,
    }


EX_RECORDS = [
    ex_record("01-701-1015", 1, "PLACEBO", PLACEBO_ZERO, "2014-01-02", "2014-01-16"),
    ex_record("01-701-1015", 2, "PLACEBO", PLACEBO_ZERO, "2014-01-17", "2014-01-31"),
    ex_record("01-701-1028", 1, "XANOMELINE", 54.0, "2013-07-19", "2013-08-01"),
    ex_record("01-701-1028", 2, "XANOMELINE", 81.0, "2013-08-02", "2013-08-20"),
]


def lb_record(usubjid, seq, testcd, value, unit, uln, when):
    return {
        "STUDYID": STUDY,
        "DOMAIN": "LB",
        "USUBJID": usubjid,
        "LBSEQ": float(seq),
        "LBTESTCD": testcd,
        "LBTEST": testcd,
        "LBCAT": "CHEMISTRY",
        "LBORRES": str(value),
        "LBORRESU": unit,
        "LBORNRHI": "" if uln is None else str(uln),
        "LBSTRESC": str(value),
        "LBSTRESN": float(value),
        "LBSTRESU": unit,
        "LBSTNRHI": float("nan") if uln is None else float(uln),
        "VISIT": "WEEK 2",
        "LBDTC": when,
    }


# The placebo subject's labs in SI units: a baseline, then ALT at 3.3x ULN.
LB_RECORDS = [
    lb_record("01-701-1015", 1, "ALT", 0.3, "ukat/L", 0.68, "2013-12-26T14:45"),
    lb_record("01-701-1015", 2, "AST", 0.35, "ukat/L", 0.6, "2013-12-26T14:45"),
    lb_record("01-701-1015", 3, "ALP", 1.2, "ukat/L", 1.92, "2013-12-26T14:45"),
    lb_record("01-701-1015", 4, "BILI", 8.55, "umol/L", 21, "2013-12-26T14:45"),
    lb_record("01-701-1015", 5, "LDL", 3.1, "mmol/L", None, "2013-12-26T14:45"),
    lb_record("01-701-1015", 6, "APOB", 0.95, "g/L", None, "2013-12-26T14:45"),
    lb_record("01-701-1015", 7, "ALT", 2.25, "ukat/L", 0.68, "2014-01-16T13:17"),
    lb_record("01-701-1015", 8, "SODIUM", 140, "mmol/L", 145, "2014-01-16T13:17"),
]


def adlb_record(usubjid, paramcd, param, aval, a1hi, adt, avisit, seq):
    return {
        "STUDYID": STUDY,
        "SUBJID": usubjid[-4:],
        "USUBJID": usubjid,
        "TRTA": "Xanomeline High Dose",
        "SEX": "M",
        "AVISIT": avisit,
        "ADT": adt,
        "PARAM": param,
        "PARAMCD": paramcd,
        "PARCAT1": "CHEM",
        "AVAL": aval,
        "A1LO": 0.0,
        "A1HI": a1hi,
        "LBSEQ": float(seq),
    }


ALT = "Alanine Aminotransferase (U/L)"
BILI = "Bilirubin (umol/L)"
HI = "01-701-1028"

# The high-dose subject: a normal baseline, ALT 3.25x ULN on day 14, 1.5x a week later (an
# End of Treatment copy repeats it), and sodium, which hepwatch does not monitor.
ADLB_RECORDS = [
    adlb_record(HI, "ALT", ALT, 20.0, 40.0, date(2013, 7, 11), "Baseline", 1),
    adlb_record(
        HI, "AST", "Aspartate Aminotransferase (U/L)", 22.0, 40.0, date(2013, 7, 11), "Baseline", 2
    ),
    adlb_record(
        HI, "ALP", "Alkaline Phosphatase (U/L)", 60.0, 115.0, date(2013, 7, 11), "Baseline", 3
    ),
    adlb_record(HI, "BILI", BILI, 10.26, 21.0, date(2013, 7, 11), "Baseline", 4),
    adlb_record(HI, "SODIUM", "Sodium (mmol/L)", 140.0, 145.0, date(2013, 7, 11), "Baseline", 5),
    adlb_record(HI, "ALT", ALT, 130.0, 40.0, date(2013, 8, 1), "Week 2", 6),
    adlb_record(HI, "ALT", ALT, 60.0, 40.0, date(2013, 8, 8), "Week 4", 7),
    adlb_record(HI, "ALT", ALT, 60.0, 40.0, date(2013, 8, 8), "End of Treatment", 7),
]


@pytest.fixture
def files(tmp_path):
    return {
        "dm": write_xpt(tmp_path / "dm.xpt", "DM", DM_RECORDS),
        "ex": write_xpt(tmp_path / "ex.xpt", "EX", EX_RECORDS),
        "lb": write_xpt(tmp_path / "lb.xpt", "LB", LB_RECORDS),
        "adlb": write_xpt(tmp_path / "adlbc.xpt", "ADLBC", ADLB_RECORDS),
    }


def run(capsys, *paths):
    """import_cdisc's exit code (0 when it did not exit), output and errors."""
    try:
        call_command("import_cdisc", *paths)
        code = 0
    except SystemExit as stop:
        code = stop.code
    out = capsys.readouterr()
    return code, out.out, out.err.strip()


def utc(*args):
    return datetime(*args, tzinfo=UTC)


# ---- datasets ------------------------------------------------------------------------------


def test_each_files_dataset_is_told_by_its_variables_not_its_name(files, tmp_path):
    assert [cdisc.open_dataset(files[k]).name for k in ("dm", "ex", "lb", "adlb")] == [
        "DM",
        "EX",
        "LB",
        "ADLB",
    ]
    adsl = tmp_path / "anything.csv"
    adsl.write_text("STUDYID,USUBJID,SUBJID,SITEID,SEX,AGE,TRT01A,TRTSDT\n", encoding="utf-8")
    assert cdisc.open_dataset(str(adsl)).name == "ADSL"
    other = tmp_path / "ae.csv"
    other.write_text("STUDYID,USUBJID,AETERM\n", encoding="utf-8")
    with pytest.raises(BadRow, match="not a DM, ADSL, EX, LB or ADLB dataset"):
        cdisc.open_dataset(str(other))


# ---- DM ------------------------------------------------------------------------------------


def test_dm_creates_the_study_its_arms_and_subjects_and_marks_screen_failures(files, capsys):
    code, out, _ = run(capsys, files["dm"])
    assert code == 0
    subjects = {s.subject_id: s for s in Subject.objects.filter(study__code=STUDY)}
    assert set(subjects) == {"01-701-1015", "01-701-1028", "01-701-1057"}
    placebo = subjects["01-701-1015"]
    assert (placebo.site.code, placebo.sex, placebo.enrolled_on) == ("701", "F", date(2014, 1, 2))
    assert placebo.arm.code == "Pbo" and placebo.arm.regimen.dose_mg == 0
    assert not placebo.screen_failure
    failure = subjects["01-701-1057"]
    assert failure.screen_failure and failure.arm.name == "Screen Failure"
    assert failure.enrolled_on == date(2013, 12, 20)  # no RFSTDTC: DMDTC
    assert "1 screen failure(s), imported and marked" in out


def test_dm_country_sets_the_sites_country_and_sdtm_dm_gives_it_back(files, capsys, tmp_path):
    from subjects.models import Site

    code, _, _ = run(capsys, files["dm"])
    assert code == 0
    assert Site.objects.get(study__code=STUDY, code="701").country == "USA"
    call_command("export_sdtm", "--output-dir", str(tmp_path))
    assert ",USA" in (tmp_path / "dm.csv").read_text(encoding="utf-8")


def test_a_birth_date_from_age_alone_gives_that_age_on_the_reference_date(files, capsys):
    run(capsys, files["dm"])
    subject = Subject.objects.get(subject_id="01-701-1015")
    # 63 on 2014-01-02: born between 1950-01-03 and 1951-01-02; the middle of those dates.
    assert subject.birth_date == date(1950, 7, 4)
    assert subject_level.birth_date_from_age(63, date(2014, 1, 2)) == date(1950, 7, 4)


def test_hepwatchs_own_usubjid_study_dash_subjid_gives_back_the_subject_id():
    ours = {"STUDYID": "MIPO-01", "USUBJID": "MIPO-01-S-001", "SUBJID": "S-001"}
    assert subject_level.subject_id(ours) == "S-001"
    theirs = {"STUDYID": STUDY, "USUBJID": "01-701-1015", "SUBJID": "1015"}
    assert subject_level.subject_id(theirs) == "01-701-1015"


@pytest.mark.parametrize(
    "name, regimen",
    [
        ("200 mg once weekly", (Decimal(200), 1)),
        ("70 mg three times weekly", (Decimal(70), 3)),
        ("Xanomeline 54 mg daily", (Decimal(54), 7)),
        ("Placebo", (Decimal(0), None)),
        ("Xanomeline High Dose", (None, None)),
    ],
)
def test_an_arms_dose_and_frequency_come_from_its_name_when_it_states_them(name, regimen):
    assert subject_level.regimen_from_name(name) == regimen


# ---- EX ------------------------------------------------------------------------------------


def test_ex_intervals_expand_daily_and_a_placebos_tiny_float_is_0_mg(files, capsys):
    code, out, _ = run(capsys, files["dm"], files["ex"])
    assert code == 0
    placebo = Dose.objects.filter(subject__subject_id="01-701-1015")
    assert placebo.count() == 30  # 2014-01-02 .. 2014-01-31, both included
    assert set(placebo.values_list("dose_mg", flat=True)) == {Decimal(0)}
    assert placebo.first().administered_at == utc(2014, 1, 2)
    assert placebo.last().administered_at == utc(2014, 1, 31)
    high = Dose.objects.filter(subject__subject_id="01-701-1028")
    assert high.filter(dose_mg=54).count() == 14 and high.filter(dose_mg=81).count() == 19
    assert "administrations 63 created" in out


def test_regimens_the_arm_names_leave_open_come_from_ex_with_no_dose_where_it_varies(files, capsys):
    run(capsys, files["dm"], files["ex"])
    regimens = {a.code: a.regimen for a in Arm.objects.filter(study__code=STUDY)}
    # Xan_Hi was given 54 mg and 81 mg: a regimen whose dose varies in the data has no dose.
    assert (regimens["Xan_Hi"].dose_mg, regimens["Xan_Hi"].administrations_per_week) == (None, 7)
    assert (regimens["Pbo"].dose_mg, regimens["Pbo"].administrations_per_week) == (0, 7)
    assert (regimens["Scrnfail"].dose_mg, regimens["Scrnfail"].administrations_per_week) == (0, 0)


@pytest.mark.parametrize(
    "frequency, start, end, times",
    [
        ("BID", "2014-01-02T08:00", "2014-01-03", ["01-02 08", "01-02 20", "01-03 08", "01-03 20"]),
        (
            "3 TIMES PER WEEK",
            "2014-01-06",
            "2014-01-13",
            ["01-06 00", "01-08 00", "01-10 00", "01-13 00"],
        ),
        ("QW", "2014-01-02", "2014-01-20", ["01-02 00", "01-09 00", "01-16 00"]),
        ("Q2W", "2014-01-02", "2014-01-30", ["01-02 00", "01-16 00", "01-30 00"]),
        ("ONCE", "2014-01-02T09:30", "2014-01-02T09:30", ["01-02 09"]),
        ("QD", "2014-01-02", "", ["01-02 00"]),  # no EXENDTC: the start only
    ],
)
def test_each_frequency_expands_into_administrations(frequency, start, end, times):
    schedule = exposure.parse_frequency(frequency)
    moments = exposure.administrations(
        values.parse_dtc(start), exposure.end_of(end) if end else None, schedule
    )
    assert [f"{m:%m-%d %H}" for m in moments] == times


def test_an_unknown_frequency_stops_the_file_naming_the_record(files, tmp_path, capsys):
    records = EX_RECORDS[:1] + [{**EX_RECORDS[2], "EXDOSFRQ": "PRN"}]
    ex = write_xpt(tmp_path / "ex_prn.xpt", "EX", records)
    run(capsys, files["dm"])
    code, _, err = run(capsys, ex)
    assert code == 1
    assert err.startswith(f"{ex}:2: EXDOSFRQ: unknown dosing frequency 'PRN'")
    assert Dose.objects.count() == 0


def test_overlapping_records_with_different_doses_are_an_error_naming_both(files, tmp_path, capsys):
    records = EX_RECORDS[2:] + [
        ex_record("01-701-1028", 3, "XANOMELINE", 54.0, "2013-08-20", "2013-08-21")
    ]
    ex = write_xpt(tmp_path / "ex_overlap.xpt", "EX", records)
    run(capsys, files["dm"])
    code, _, err = run(capsys, ex)
    assert code == 1
    assert f"{ex}:3: EXDOSE: 54 mg at 2013-08-20 00:00 UTC, but record 2 gives 81 mg" in err


# ---- LB ------------------------------------------------------------------------------------


def test_lb_in_si_units_gives_results_with_their_uln_multiples(files, capsys):
    code, out, _ = run(capsys, files["dm"], files["ex"], files["lb"])
    assert code == 0
    results = {
        (r.draw.collected_at, r.analyte): r
        for r in LabResult.objects.filter(draw__subject__subject_id="01-701-1015")
    }
    alt = results[(utc(2014, 1, 16, 13, 17), "ALT")]
    assert (alt.value, alt.unit, alt.value_canonical) == (Decimal("2.25"), "ukat/L", 135)
    assert alt.uln == Decimal("40.8") and alt.uln_multiple == Decimal("3.308824")
    baseline = utc(2013, 12, 26, 14, 45)
    assert results[(baseline, "TBIL")].value_canonical == Decimal("0.5")
    assert results[(baseline, "TBIL")].uln_multiple == Decimal("0.407143")
    assert results[(baseline, "LDLC")].value_canonical == Decimal("119.877")
    assert results[(baseline, "APOB")].value_canonical == Decimal(95)
    assert "skipped: 1 other tests (SODIUM)" in out


def test_lb_alerts_follow_the_rule_table(files, capsys):
    run(capsys, files["dm"], files["ex"], files["lb"])
    runner.evaluate_subjects(Subject.objects.values_list("pk", flat=True), utc(2014, 1, 17))
    kinds = list(
        Alert.objects.filter(subject__subject_id="01-701-1015").values_list("kind", flat=True)
    )
    # ALT 3.3x on 2014-01-16 13:17 starts an episode (R3); each daily placebo patch after it,
    # 2014-01-17 .. 2014-01-31, is a dose while withheld (R9); no confirmation is due yet (R7).
    assert sorted(set(kinds)) == ["dose_while_withheld", "withhold_dose"]
    assert kinds.count("withhold_dose") == 1 and kinds.count("dose_while_withheld") == 15


# ---- ADLB ----------------------------------------------------------------------------------


def test_adlb_merges_end_of_treatment_copies_and_skips_other_parameters(files, capsys):
    code, out, _ = run(capsys, files["dm"], files["ex"], files["adlb"])
    assert code == 0
    assert "merged: 1 End of Treatment copies of an earlier record" in out
    assert "skipped: 1 other tests (SODIUM)" in out
    draws = LabDraw.objects.filter(subject__subject_id=HI)
    assert [d.collected_at for d in draws] == [utc(2013, 7, 11), utc(2013, 8, 1), utc(2013, 8, 8)]
    tbil = LabResult.objects.get(draw__subject__subject_id=HI, analyte="TBIL")
    assert (tbil.unit, tbil.value_canonical, tbil.uln_multiple) == (
        "umol/L",
        Decimal("0.6"),
        Decimal("0.488571"),
    )
    peaks = LabResult.objects.filter(draw__subject__subject_id=HI, analyte="ALT")
    assert [r.uln_multiple for r in peaks.order_by("draw__collected_at")] == [
        Decimal("0.5"),
        Decimal("3.25"),
        Decimal("1.5"),
    ]


def test_adlb_alerts_follow_the_rule_table(files, capsys):
    run(capsys, files["dm"], files["ex"], files["adlb"])
    runner.evaluate_subjects(Subject.objects.values_list("pk", flat=True), utc(2013, 8, 9))
    kinds = list(Alert.objects.filter(subject__subject_id=HI).values_list("kind", flat=True))
    # R3 on 08-01 (3.25x); R8 on 08-08 (1.5x ends the episode). Rules v2: no re-start was
    # signed, so every daily dose after 08-01 00:00 (a dose at the draw's instant is not after
    # it) is R9, the ones after the episode ended included.
    assert sorted(set(kinds)) == ["dose_while_withheld", "eligible_reduced_dose", "withhold_dose"]
    after = Dose.objects.filter(subject__subject_id=HI, administered_at__gt=utc(2013, 8, 1))
    assert kinds.count("dose_while_withheld") == after.count() > 6


def test_two_values_for_one_test_at_one_time_are_an_error_naming_both_records(
    files, tmp_path, capsys
):
    conflict = {**ADLB_RECORDS[-1], "AVAL": 61.0}
    adlb = write_xpt(tmp_path / "adlb_conflict.xpt", "ADLB", ADLB_RECORDS[:-1] + [conflict])
    run(capsys, files["dm"])
    code, _, err = run(capsys, adlb)
    assert code == 1
    assert err.startswith(
        f"{adlb}:8: AVAL: ALT 61 U/L at 2013-08-08 00:00 UTC, but record 7 has 60 U/L"
    )
    assert LabResult.objects.count() == 0


def test_adlb_as_csv_with_units_in_param_and_iso_dates(files, tmp_path, capsys):
    header = "STUDYID,USUBJID,PARAMCD,PARAM,AVAL,A1HI,ADT,AVISIT\n"
    rows = [
        f"{STUDY},{HI},BILI,{BILI},42.75,21,2013-08-01,Week 2\n",
        f"{STUDY},{HI},ALT,{ALT},130,40,01AUG2013,Week 2\n",  # SAS DATE9. text
    ]
    path = tmp_path / "adlbc.csv"
    path.write_text(header + "".join(rows).replace(BILI, f'"{BILI}"'), encoding="utf-8")
    code, _, err = run(capsys, files["dm"], str(path))
    assert (code, err) == (0, "")
    draw = LabDraw.objects.get(subject__subject_id=HI)
    assert draw.collected_at == utc(2013, 8, 1)
    tbil = draw.results.get(analyte="TBIL")
    assert (tbil.unit, tbil.uln_multiple) == ("umol/L", Decimal("2.035714"))


def test_importing_the_same_files_twice_changes_nothing(files, capsys):
    paths = [files[k] for k in ("adlb", "ex", "dm")]  # any order: DM, then EX, then labs
    run(capsys, *paths)
    counts = (Subject.objects.count(), Dose.objects.count(), LabResult.objects.count())
    history = (Dose.history.count(), LabResult.history.count())
    code, out, _ = run(capsys, *paths)
    assert code == 0
    assert (Subject.objects.count(), Dose.objects.count(), LabResult.objects.count()) == counts
    assert (Dose.history.count(), LabResult.history.count()) == history
    assert "Queued evaluation" not in out


# ---- ADSL ----------------------------------------------------------------------------------


def adsl_record(usubjid, sex, age, trt01a, trtsdt):
    return {
        "STUDYID": STUDY,
        "USUBJID": usubjid,
        "SUBJID": usubjid[-4:],
        "SITEID": "701",
        "ARM": trt01a,
        "TRT01P": trt01a,
        "TRT01A": trt01a,
        "TRTSDT": trtsdt,
        "AGE": float(age),
        "AGEU": "YEARS",
        "SEX": sex,
        "RFSTDTC": trtsdt.isoformat(),
    }


ADSL_RECORDS = [
    adsl_record("01-701-1015", "F", 63, "Placebo", date(2014, 1, 2)),
    adsl_record("01-701-1028", "M", 71, "Xanomeline High Dose", date(2013, 7, 19)),
]


def test_adsl_after_dm_finds_the_arms_by_name_and_changes_nothing(files, tmp_path, capsys):
    adsl = write_xpt(tmp_path / "adsl.xpt", "ADSL", ADSL_RECORDS)
    run(capsys, files["dm"])
    code, out, _ = run(capsys, adsl)
    assert code == 0
    assert "ADSL of CDISCPILOT01, 2 records: subjects 0 created, 0 updated, 2 unchanged" in out
    assert Arm.objects.filter(study__code=STUDY).count() == 3


def test_adsl_alone_creates_arms_from_trt01a(tmp_path, capsys):
    adsl = write_xpt(tmp_path / "adsl.xpt", "ADSL", ADSL_RECORDS)
    code, _, _ = run(capsys, adsl)
    assert code == 0
    subject = Subject.objects.get(subject_id="01-701-1028")
    assert (subject.arm.code, subject.arm.name) == ("XANOMELINE_HIGH_DOSE", "Xanomeline High Dose")
    assert subject.enrolled_on == date(2013, 7, 19) and not subject.screen_failure
