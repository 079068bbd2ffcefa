"""A study that ran on paper or another system comes in with its decisions (import_csv
--decisions) and its result times (the labs' resulted_at column), and its states come out
(export_states), as DESIGN section 5 says."""

import csv
from datetime import UTC, datetime

import pytest
from django.core.management import call_command

from monitoring.models import Alert, Decision, LabDraw

from .test_import import run_import, write
from .world import make_user

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

SUBJECTS = """subject_id,site,sex,birth_date,arm,enrolled_on
S-001,S01,M,1970-05-01,standard,2024-01-01
S-002,S01,F,1980-05-01,standard,2024-01-01
"""
DOSES = """subject_id,administered_at,dose_mg
S-001,2024-01-08T10:00:00Z,200
S-001,2024-02-05T10:00:00Z,70
S-002,2024-01-08T10:00:00Z,200
"""
# S-001: 3.5× on 01-15 (known at 18:00), below 3× on 01-22; S-002 quiet.
LABS = """subject_id,collected_at,test,value,unit,uln,resulted_at
S-001,2024-01-07T08:00:00Z,ALT,20,U/L,,
S-001,2024-01-07T08:00:00Z,AST,20,U/L,,
S-001,2024-01-07T08:00:00Z,ALP,80,U/L,,
S-001,2024-01-07T08:00:00Z,TBIL,0.5,mg/dL,,
S-001,2024-01-15T08:00:00Z,ALT,143.5,U/L,,2024-01-15T18:00:00Z
S-001,2024-01-22T08:00:00Z,ALT,40,U/L,,2024-01-22T15:00:00Z
S-002,2024-01-07T08:00:00Z,ALT,20,U/L,,
S-002,2024-01-07T08:00:00Z,AST,20,U/L,,
S-002,2024-01-07T08:00:00Z,ALP,80,U/L,,
S-002,2024-01-07T08:00:00Z,TBIL,0.5,mg/dL,,
"""
HEADER = "subject_id,signed_at,action,regimen,reviewer,reason\n"
GOOD_DECISIONS = HEADER + (
    "S-001,2024-01-16T09:00:00Z,withhold,,dr_lee,ALT 3.5x: withhold\n"
    "S-001,2024-01-25T09:00:00Z,resume_reduced_dose,reduced,dr_lee,ALT 1x: reduced re-start\n"
)


@pytest.fixture
def study(tmp_path):
    make_user("dr_lee", "safety_reviewer", first_name="Li", last_name="Lee")
    call_command(
        "import_csv",
        subjects=write(tmp_path, "subjects.csv", SUBJECTS),
        doses=write(tmp_path, "doses.csv", DOSES),
        labs=write(tmp_path, "labs.csv", LABS),
    )
    return tmp_path


def states(tmp_path):
    out = tmp_path / "states.csv"
    call_command("export_states", output=str(out))
    with open(out, newline="", encoding="utf-8") as handle:
        return {r["subject_id"]: (r["state"], r["regimen"]) for r in csv.DictReader(handle)}


def test_labs_result_time_is_stored_and_collection_time_stands_in_when_empty(study):
    elevated = LabDraw.objects.get(subject__subject_id="S-001", collected_at__day=15)
    baseline = LabDraw.objects.get(subject__subject_id="S-001", collected_at__day=7)
    assert elevated.resulted_at == datetime(2024, 1, 15, 18, tzinfo=UTC)
    assert baseline.resulted_at == baseline.collected_at


def test_a_result_time_before_collection_is_a_bad_row(tmp_path, study, capsys):
    bad = LABS.replace("2024-01-15T18:00:00Z", "2024-01-14T18:00:00Z")
    code, err = run_import(capsys, labs=write(tmp_path, "bad.csv", bad))
    assert code == 1 and ":6: resulted_at: is before collected_at" in err


def test_without_decisions_the_subject_waits_for_a_restart(tmp_path, study):
    call_command("evaluate", "--all", as_of="2024-02-10T00:00:00Z")
    assert states(tmp_path)["S-001"] == ("restart_pending", "standard")
    # The 70 mg dose of 02-05 came while withheld: R9.
    assert Alert.objects.filter(kind="dose_while_withheld").count() == 1


def test_transcribed_decisions_restart_at_the_reduced_regimen(tmp_path, study):
    call_command("import_csv", decisions=write(tmp_path, "decisions.csv", GOOD_DECISIONS))
    call_command("evaluate", "--all", as_of="2024-02-10T00:00:00Z")
    assert states(tmp_path) == {"S-001": ("dosing", "reduced"), "S-002": ("dosing", "standard")}
    decisions = list(Decision.objects.order_by("signed_at"))
    assert [d.transcribed for d in decisions] == [True, True]
    assert decisions[1].regimen.code == "reduced" and decisions[1].reviewer.username == "dr_lee"
    assert "not an electronic signature" in decisions[0].signature_meaning
    kinds = set(Alert.objects.values_list("kind", "status"))
    assert ("withhold_dose", "resolved") in kinds and ("eligible_reduced_dose", "resolved") in kinds
    # The R9 raised on the 70 mg dose before the decisions came in is retracted: the dose
    # followed the signed reduced re-start.
    errors = Alert.objects.filter(kind__in=("dose_while_withheld", "dose_off_regimen"))
    assert {a.status for a in errors} == {"retracted"}


def test_importing_the_decisions_again_adds_nothing(tmp_path, study):
    path = write(tmp_path, "decisions.csv", GOOD_DECISIONS)
    call_command("import_csv", decisions=path)
    call_command("import_csv", decisions=path)
    assert Decision.objects.count() == 2


@pytest.mark.parametrize(
    "row, message",
    [
        (
            "S-001,2024-01-20T09:00:00Z,resume_same_dose,,dr_lee,too early\n",
            ":2: action: Resume at the same dose is not allowed: an elevation is still open",
        ),
        (
            "S-002,2024-01-20T09:00:00Z,resume_same_dose,,dr_lee,nothing to resume\n",
            ":2: action: Resume at the same dose is not allowed: the subject is not withheld",
        ),
        (
            "S-001,2024-01-25T09:00:00Z,resume_reduced_dose,,dr_lee,no target\n",
            ":2: regimen: is required for resume_reduced_dose",
        ),
        (
            "S-001,2024-01-25T09:00:00Z,resume_same_dose,reduced,dr_lee,target given\n",
            ":2: regimen: must be empty for resume_same_dose",
        ),
        (
            "S-001,2024-01-25T09:00:00Z,withhold,,nobody,x\n",
            ":2: reviewer: 'nobody' is not a safety reviewer",
        ),
        ("S-001,2024-01-25T09:00:00Z,approve,,dr_lee,x\n", ":2: action: 'approve' is not one of"),
        ("S-001,2024-01-25T09:00:00Z,withhold,,dr_lee,\u200b\n", ":2: reason:"),
        ("S-001,2099-01-25T09:00:00Z,withhold,,dr_lee,later\n", ":2: signed_at:"),
    ],
)
def test_a_decision_the_app_would_refuse_is_a_bad_row_and_nothing_is_written(
    tmp_path, study, capsys, row, message
):
    code, err = run_import(capsys, decisions=write(tmp_path, "d.csv", HEADER + row))
    assert code == 1 and message in err, err
    assert not Decision.objects.exists()


def test_a_refused_row_after_good_ones_keeps_the_whole_file_out(tmp_path, study, capsys):
    text = GOOD_DECISIONS + (
        "S-001,2024-01-28T09:00:00Z,withhold,,dr_lee,nausea\n"
        "S-001,2024-01-30T09:00:00Z,resume_reduced_dose,reduced,dr_lee,again\n"
    )
    code, err = run_import(capsys, decisions=write(tmp_path, "d.csv", text))
    # 70 mg three times weekly, now in force, is not a reduction of itself.
    assert code == 1 and ":5: regimen:" in err and "is not a reduction" in err
    assert not Decision.objects.exists()
