"""A study follows one published rule set, switched by staff with a reason (DESIGN section 3b):
every subject is re-evaluated, alerts the new set no longer gives are retracted with the
reason, and switching there and back gives exactly what a fresh import under each set gives."""

import csv

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError

from monitoring.models import Alert
from subjects.models import Study

from .factories import wipe_study_data
from .synthetic import DEFAULT_AS_OF, write_study
from .world import make_user

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture(autouse=True)
def transcribing_reviewer(db):
    make_user("dr_reviewer", "safety_reviewer")


def study():
    return Study.objects.get(code="MIPO-01")


def load(paths):
    """Subjects, doses and labs only: a decision signed under one set (a resume after a 3.5×
    episode) can be one the other set refuses (that episode withheld nothing), so a fresh
    import of it under the other set is no comparison."""
    subjects, doses, labs, _ = (str(p) for p in paths)
    call_command("import_csv", subjects=subjects, doses=doses, labs=labs)
    call_command("evaluate", "--all", as_of=DEFAULT_AS_OF.isoformat())


def outcome(tmp_path):
    """The alerts in force (retracted ones left out) with their statuses, and the states."""
    alerts_out, states_out = tmp_path / "alerts.csv", tmp_path / "states.csv"
    call_command("export_alerts", output=str(alerts_out))
    call_command("export_states", output=str(states_out))
    with open(alerts_out, newline="", encoding="utf-8") as handle:
        alerts = {tuple(r.values()) for r in csv.DictReader(handle) if r["status"] != "retracted"}
    with open(states_out, newline="", encoding="utf-8") as handle:
        states = {tuple(r.values()) for r in csv.DictReader(handle)}
    return alerts, states


def switch(name, reason="protocol amendment 4"):
    call_command("set_rule_set", "MIPO-01", name, reason=reason)


def fresh(paths, tmp_path, name):
    wipe_study_data()
    if study().rule_set != name:
        switch(name, "fresh import under this set")
    load(paths)
    return outcome(tmp_path)


def test_switching_to_the_label_and_back_gives_what_a_fresh_import_gives(tmp_path):
    paths = write_study(tmp_path, 31, 60)
    load(paths)
    under_seed = outcome(tmp_path)
    switch("kynamro_label")
    call_command("evaluate", "--all", as_of=DEFAULT_AS_OF.isoformat())
    switched = outcome(tmp_path)
    assert switched != under_seed
    kinds = {a[1] for a in switched[0]}
    assert "confirm_elevation" in kinds and "weekly_monitoring" not in kinds
    retracted = Alert.objects.filter(kind="weekly_monitoring")
    assert retracted and {a.status for a in retracted} == {"retracted"}
    assert all("rule set changed" in a.status_reason for a in retracted)
    switch("seed", "back to the seed guide")
    call_command("evaluate", "--all", as_of=DEFAULT_AS_OF.isoformat())
    assert outcome(tmp_path) == under_seed
    assert fresh(paths, tmp_path, "kynamro_label") == switched
    assert fresh(paths, tmp_path, "seed") == under_seed


def test_a_switch_is_kept_in_the_studys_history_with_its_reason(tmp_path):
    switch("fda_dili_2009", "IND study under FDA's DILI guidance")
    record = study().history.latest()
    assert record.rule_set == "fda_dili_2009"
    assert record.history_change_reason == "IND study under FDA's DILI guidance"


def test_a_switch_without_a_visible_reason_or_to_an_unknown_set_is_refused():
    with pytest.raises(CommandError, match="reason"):
        switch("kynamro_label", "\u200b ")
    with pytest.raises(CommandError):
        switch("my_own_rules")
    assert study().rule_set == "seed"


def test_staff_switch_the_rule_set_in_the_admin_only_with_a_reason(client):
    staff = User.objects.create_superuser("sam", password="pw")
    client.force_login(staff)
    url = f"/admin/subjects/study/{study().pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {
        name: form[name].value() if form[name].value() is not None else "" for name in form.fields
    }
    data.update(
        {
            "rule_set": "kynamro_label",
            "regimens-TOTAL_FORMS": "0",
            "regimens-INITIAL_FORMS": "0",
            "arms-TOTAL_FORMS": "0",
            "arms-INITIAL_FORMS": "0",
        }
    )
    for prefix in ("regimens", "arms"):
        data.update({f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"})
    refused = client.post(url, data)
    assert "Give a reason for changing" in refused.content.decode()
    assert study().rule_set == "seed"
    data["reason_for_change"] = "the label's monitoring for the open-label extension"
    assert client.post(url, data).status_code == 302
    assert study().rule_set == "kynamro_label"
    assert study().history.latest().history_user == staff


def test_the_rules_page_shows_the_set_in_force_and_each_sets_table(client):
    switch("fda_dili_2009", "IND study")
    client.force_login(make_user("max", "monitor"))
    page = client.get("/rules/").content.decode()
    assert "The study follows <strong>FDA guidance" in page
    for rule_id in ("F3", "F6", "F7", "F8", "K3", "K8", "R2"):
        assert f'<td class="rule-id">{rule_id}</td>' in page
