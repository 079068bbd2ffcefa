"""A study nobody tuned the engine to: import, evaluate as of a time, export, and compare every
alert with an independent implementation of the rule table (tests/oracle.py)."""

import csv
from datetime import UTC, datetime

import pytest
from django.core.management import call_command

from .oracle import oracle_alerts
from .synthetic import DEFAULT_AS_OF, write_study

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def exported(path):
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return rows


def expected(directory, as_of):
    texts = [(directory / name).read_text() for name in ("subjects.csv", "doses.csv", "labs.csv")]
    return {
        (
            a["subject_id"],
            a["kind"],
            a["severity"],
            a["triggered_at"].astimezone(UTC).isoformat().replace("+00:00", "Z"),
            a["due_by"].astimezone(UTC).isoformat().replace("+00:00", "Z") if a["due_by"] else "",
            a["rule"],
        )
        for a in oracle_alerts(*texts, as_of=as_of)
    }


@pytest.mark.parametrize("seed", [7, 2026])
def test_imported_study_alerts_match_the_rule_table_exactly(tmp_path, seed):
    subjects, doses, labs = write_study(tmp_path, seed, 120)
    call_command("import_csv", subjects=str(subjects), doses=str(doses), labs=str(labs))
    call_command("evaluate", "--all", as_of=DEFAULT_AS_OF.isoformat())
    out = tmp_path / "alerts.csv"
    call_command("export_alerts", output=str(out))

    rows = exported(out)
    got = {
        (r["subject_id"], r["kind"], r["severity"], r["triggered_at"], r["due_by"], r["rule"])
        for r in rows
    }
    want = expected(tmp_path, DEFAULT_AS_OF)
    assert len(rows) == len(got), "an alert is exported twice"
    assert {r["status"] for r in rows} == {"open"}
    assert sorted(want - got) == [], "missing alerts"
    assert sorted(got - want) == [], "extra alerts"


def test_importing_the_same_files_twice_adds_nothing(tmp_path):
    subjects, doses, labs = write_study(tmp_path, 11, 30)
    files = dict(subjects=str(subjects), doses=str(doses), labs=str(labs))
    call_command("import_csv", **files)
    call_command("evaluate", "--all", as_of=DEFAULT_AS_OF.isoformat())
    out1, out2 = tmp_path / "a1.csv", tmp_path / "a2.csv"
    call_command("export_alerts", output=str(out1))
    call_command("import_csv", **files)
    call_command("evaluate", "--all", as_of=DEFAULT_AS_OF.isoformat())
    call_command("export_alerts", output=str(out2))
    assert out1.read_text() == out2.read_text()


def test_evaluating_later_adds_only_time_rule_alerts(tmp_path):
    subjects, doses, labs = write_study(tmp_path, 3, 40)
    call_command("import_csv", subjects=str(subjects), doses=str(doses), labs=str(labs))
    later = datetime(2025, 6, 1, tzinfo=UTC)
    call_command("evaluate", "--all", as_of=later.isoformat())
    call_command("evaluate", "--all", as_of=DEFAULT_AS_OF.isoformat())
    out = tmp_path / "alerts.csv"
    call_command("export_alerts", output=str(out))
    got = {
        (r["subject_id"], r["kind"], r["severity"], r["triggered_at"], r["due_by"], r["rule"])
        for r in exported(out)
        if r["status"] != "retracted"
    }
    assert got == expected(tmp_path, DEFAULT_AS_OF)
