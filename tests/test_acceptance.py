"""A study nobody tuned the engine to: import (with transcribed decisions), evaluate as of a
time, export alerts and states, and compare each with an independent implementation of the
rule table (tests/oracle.py)."""

import csv
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command

from monitoring.models import Decision

from .oracle import oracle_assess
from .synthetic import DEFAULT_AS_OF, write_study

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture(autouse=True)
def transcribing_reviewer(db):
    """The safety reviewer every generated decision names."""
    user = User.objects.create_user("dr_reviewer", password="x")
    user.groups.add(Group.objects.get(name="safety_reviewer"))


def exported(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def iso(moment):
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else ""


def expected(paths, as_of, rule_set="seed"):
    alerts, states = oracle_assess(*(p.read_text() for p in paths), as_of=as_of, rule_set=rule_set)
    return (
        {
            (
                a["subject_id"],
                a["kind"],
                a["severity"],
                a["status"],
                iso(a["triggered_at"]),
                iso(a["due_by"]),
                a["rule"],
            )
            for a in alerts
        },
        {sid: (s["state"], s["regimen"]) for sid, s in states.items()},
    )


def imported(paths, tmp_path, as_of):
    subjects, doses, labs, decisions = (str(p) for p in paths)
    call_command("import_csv", subjects=subjects, doses=doses, labs=labs, decisions=decisions)
    call_command("evaluate", "--all", as_of=as_of.isoformat())
    return export(tmp_path)


def export(tmp_path):
    alerts_out, states_out = tmp_path / "alerts.csv", tmp_path / "states.csv"
    call_command("export_alerts", output=str(alerts_out))
    call_command("export_states", output=str(states_out))
    rows = exported(alerts_out)
    alerts = {
        (r["subject_id"], r["kind"], r["severity"], r["status"], r["triggered_at"], r["due_by"])
        + (r["rule"],)
        for r in rows
    }
    assert len(rows) == len(alerts), "an alert is exported twice"
    states = {r["subject_id"]: (r["state"], r["regimen"]) for r in exported(states_out)}
    return alerts, states


@pytest.mark.parametrize("seed", [7, 2026])
def test_imported_study_alerts_and_states_match_the_rule_table_exactly(tmp_path, seed):
    paths = write_study(tmp_path, seed, 120)
    got_alerts, got_states = imported(paths, tmp_path, DEFAULT_AS_OF)
    want_alerts, want_states = expected(paths, DEFAULT_AS_OF)
    assert Decision.objects.filter(transcribed=True).count() > 20
    assert {a[3] for a in got_alerts} == {"open", "resolved"}
    assert len(got_states) == 120
    assert sorted(want_alerts - got_alerts) == [], "missing alerts"
    assert sorted(got_alerts - want_alerts) == [], "extra alerts"
    assert got_states == want_states


@pytest.mark.parametrize("rule_set", ["kynamro_label", "fda_dili_2009"])
@pytest.mark.parametrize("seed", [7, 2026])
def test_a_study_under_a_published_rule_set_matches_section_3b_exactly(tmp_path, seed, rule_set):
    call_command("set_rule_set", "MIPO-01", rule_set, reason="the study's protocol")
    paths = write_study(tmp_path, seed, 120, rule_set=rule_set)
    got_alerts, got_states = imported(paths, tmp_path, DEFAULT_AS_OF)
    want_alerts, want_states = expected(paths, DEFAULT_AS_OF, rule_set)
    assert len(got_states) == 120
    assert sorted(want_alerts - got_alerts) == [], "missing alerts"
    assert sorted(got_alerts - want_alerts) == [], "extra alerts"
    assert got_states == want_states


def test_importing_the_same_files_twice_adds_nothing(tmp_path):
    paths = write_study(tmp_path, 11, 30)
    first = imported(paths, tmp_path, DEFAULT_AS_OF)
    assert imported(paths, tmp_path, DEFAULT_AS_OF) == first


def test_evaluating_later_adds_only_time_rule_alerts(tmp_path):
    paths = write_study(tmp_path, 3, 40)
    subjects, doses, labs, decisions = (str(p) for p in paths)
    call_command("import_csv", subjects=subjects, doses=doses, labs=labs, decisions=decisions)
    later = datetime(2025, 6, 1, tzinfo=UTC)
    call_command("evaluate", "--all", as_of=later.isoformat())
    call_command("evaluate", "--all", as_of=DEFAULT_AS_OF.isoformat())
    alerts, states = export(tmp_path)
    want_alerts, want_states = expected(paths, DEFAULT_AS_OF)
    assert {a for a in alerts if a[3] != "retracted"} == want_alerts
    assert states == want_states
