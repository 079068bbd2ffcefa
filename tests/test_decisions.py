"""Signed decisions that mean what they say (DESIGN section 3, rules v2), through the pages a
reviewer uses: only the actions allowed now are offered, a forged one is refused with its
reason, a re-start names its reduced regimen, a decision is amended only by a new one, and one
signature answers a whole case."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from monitoring.evaluation import runner
from monitoring.models import Alert, Decision, SubjectSafetyState
from monitoring.services import lab_entry
from subjects.models import Dose, Regimen

from .factories import make_subject, results
from .world import PASSWORD, make_user

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0, second=0)


def at(days_ago, hour=8):
    return (NOW - timedelta(days=days_ago)).replace(hour=hour, minute=0)


@pytest.fixture
def reviewer():
    return make_user("rita", "safety_reviewer", first_name="Rita", last_name="Rev")


@pytest.fixture
def elevated(django_capture_on_commit_callbacks):
    """A standard-arm subject dosed weekly, with ALT 5.2× and TBIL 2.1× four days ago (R3, R5,
    R6) and nothing since: the episode is open."""
    subject = make_subject("MIP-001", enrolled_on=(NOW - timedelta(days=60)).date())
    with django_capture_on_commit_callbacks(execute=True):
        lab_entry.record_draw(subject, at(40), results(ALT=20, AST=20, ALP=80, TBIL="0.5"))
        Dose.objects.create(subject=subject, administered_at=at(39, 10), dose_mg=200)
        lab_entry.record_draw(
            subject, at(4), results(ALT="213.2", AST=30, TBIL="2.52"), resulted_at=at(4, 14)
        )
    return subject


def lead(subject, kind="withhold_dose"):
    return Alert.objects.get(subject=subject, kind=kind)


def page(client, alert):
    return client.get(reverse("alert", args=[alert.pk]))


def sign(client, alert, action, reason="clinical reasoning", **extra):
    data = {"action": action, "reason": reason, "password": PASSWORD, **extra}
    return client.post(reverse("alert", args=[alert.pk]), data)


def test_the_form_offers_only_the_actions_allowed_now_and_says_why_not(client, reviewer, elevated):
    client.force_login(reviewer)
    form = page(client, lead(elevated)).context["form"]
    offered = [value for value, _ in form.fields["action"].choices]
    # Discontinued from the R6 draw's result time: only discontinue and acknowledge remain.
    assert offered == ["discontinue", "acknowledge"]
    refused = {c.action: c.refused for c in form.refused}
    assert "discontinued by rule R6" in refused["resume_same_dose"]
    assert "discontinued by rule R6" in refused["withhold"]


def test_a_forged_resume_on_a_discontinued_subject_is_refused_with_the_reason(
    client, reviewer, elevated
):
    client.force_login(reviewer)
    response = sign(client, lead(elevated), "resume_same_dose", "ALT falling")
    errors = " ".join(response.context["form"].errors["action"])
    assert "Resume at the same dose is not allowed" in errors and "discontinued" in errors
    assert not Decision.objects.exists()
    assert lead(elevated, "discontinue").status == "open"


def test_one_discontinue_decision_answers_the_whole_case_and_resolves_it(
    client, reviewer, elevated
):
    client.force_login(reviewer)
    alert = lead(elevated)
    case = set(Alert.objects.filter(subject=elevated).values_list("kind", flat=True))
    assert case == {"withhold_dose", "severe_elevation", "discontinue"}
    response = sign(client, alert, "discontinue", "Potential Hy's law: stop mipomersen")
    assert response.status_code == 302
    decision = Decision.objects.get()
    assert set(decision.alerts.values_list("kind", flat=True)) == case
    for a in Alert.objects.filter(subject=elevated):
        assert a.status == "resolved" and a.closed_by_rules
        assert a.status_reason.startswith("Treatment discontinued by Rita Rev")
        assert a.history.latest().history_user is None  # the engine resolved it, not Rita
    assert SubjectSafetyState.objects.get(subject=elevated).state == "discontinued"


@pytest.fixture
def recovered(django_capture_on_commit_callbacks):
    """ALT 3.5× twelve days ago, then 1.2× five days ago: the episode ended, no re-start yet."""
    subject = make_subject("MIP-002", enrolled_on=(NOW - timedelta(days=60)).date())
    with django_capture_on_commit_callbacks(execute=True):
        lab_entry.record_draw(subject, at(40), results(ALT=20, AST=20, ALP=80, TBIL="0.5"))
        Dose.objects.create(subject=subject, administered_at=at(39, 10), dose_mg=200)
        lab_entry.record_draw(subject, at(12), results(ALT="143.5"), resulted_at=at(12, 14))
        lab_entry.record_draw(subject, at(5), results(ALT="49.2"), resulted_at=at(5, 14))
    return subject


def test_after_the_episode_ends_the_subject_waits_for_a_restart_decision(recovered):
    assert SubjectSafetyState.objects.get(subject=recovered).state == "restart_pending"
    assert lead(recovered, "eligible_reduced_dose").status == "open"
    assert lead(recovered).status == "open"


def test_a_reduced_restart_offers_the_studys_reductions_and_needs_one(client, reviewer, recovered):
    client.force_login(reviewer)
    form = page(client, lead(recovered)).context["form"]
    assert [r.code for r in form.fields["regimen"].queryset] == ["reduced"]
    response = sign(client, lead(recovered), "resume_reduced_dose", "ALT 1.2×")
    assert "regimen" in response.context["form"].errors
    assert not Decision.objects.exists()


def test_a_reduced_restart_closes_the_case_and_sets_the_regimen_in_force(
    client, reviewer, recovered
):
    client.force_login(reviewer)
    reduced = Regimen.objects.get(code="reduced")
    response = sign(client, lead(recovered), "resume_reduced_dose", "ALT 1.2×", regimen=reduced.pk)
    assert response.status_code == 302
    safety = SubjectSafetyState.objects.get(subject=recovered)
    assert (safety.state, safety.regimen.code) == ("weekly_monitoring", "reduced")
    case = Alert.objects.filter(subject=recovered, case_at__isnull=False)
    assert {a.status for a in case} == {"resolved"}
    reason = lead(recovered).status_reason
    assert reason.startswith("Re-started at a reduced dose by Rita Rev")
    subject_page = client.get(reverse("subject", args=[recovered.pk])).content.decode()
    assert "70 mg three times weekly (reduced), since the re-start signed on" in subject_page


def test_a_target_that_is_no_reduction_is_refused(client, reviewer, recovered):
    standard = Regimen.objects.get(code="standard")
    client.force_login(reviewer)
    response = sign(client, lead(recovered), "resume_reduced_dose", "ALT 1.2×", regimen=standard.pk)
    assert "regimen" in response.context["form"].errors  # not among the reductions offered
    assert not Decision.objects.exists()


def test_a_decision_is_amended_only_by_a_new_one_naming_it_and_both_are_kept(
    client, reviewer, recovered
):
    client.force_login(reviewer)
    sign(client, lead(recovered), "acknowledge", "seen; waiting for the hepatologist")
    first = Decision.objects.get()
    response = sign(
        client, lead(recovered), "resume_same_dose", "hepatologist agrees", replaces=first.pk
    )
    assert response.status_code == 302
    second = Decision.objects.exclude(pk=first.pk).get()
    assert second.replaces == first and Decision.objects.count() == 2
    assert first.reason == "seen; waiting for the hepatologist"  # never edited
    form = page(client, lead(recovered, "eligible_reduced_dose"))
    assert form.status_code == 200


def test_after_signing_the_reviewer_goes_to_the_next_open_case(
    client, reviewer, recovered, elevated
):
    client.force_login(reviewer)
    response = sign(client, lead(recovered), "resume_same_dose", "ALT 1.2×")
    case = Alert.objects.filter(subject=elevated, case_at__isnull=False)
    assert response["Location"] in {reverse("alert", args=[a.pk]) for a in case}


def test_a_resume_while_the_episode_is_open_is_refused(client, reviewer, recovered):
    lab_entry.record_draw(recovered, at(2), results(ALT=140), resulted_at=at(2, 14))
    runner.evaluate_subjects([recovered.pk])
    client.force_login(reviewer)
    alert = Alert.objects.get(subject=recovered, kind="withhold_dose", triggered_at=at(2))
    response = sign(client, alert, "resume_same_dose", "forged")
    assert "an elevation is still open" in " ".join(response.context["form"].errors["action"])


def test_a_post_on_an_alert_with_nothing_left_to_answer_is_refused_with_its_status(
    client, reviewer, recovered
):
    client.force_login(reviewer)
    sign(client, lead(recovered), "resume_same_dose", "ALT 1.2×")
    response = sign(client, lead(recovered), "withhold", "again")
    assert response.status_code == 403
    assert "This alert is resolved" in response.content.decode()
    assert Decision.objects.count() == 1


def test_a_blinded_reviewer_restarts_on_a_dose_level_without_the_regimen_or_its_mg(
    client, reviewer, recovered
):
    from django.core.management import call_command

    call_command("set_blinding", recovered.study.code, "blinded", "--reason", "double-blind")
    client.force_login(reviewer)
    response = page(client, lead(recovered))
    form = response.context["form"]
    assert [label for _, label in form.fields["regimen"].choices][1:] == ["Reduced dose level 1"]
    assert "70 mg" not in response.content.decode()
    reduced = Regimen.objects.get(code="reduced")
    response = sign(client, lead(recovered), "resume_reduced_dose", "ALT 1.2×", regimen=reduced.pk)
    assert response.status_code == 302
    assert SubjectSafetyState.objects.get(subject=recovered).regimen.code == "reduced"
    subject_page = client.get(reverse("subject", args=[recovered.pk])).content.decode()
    assert "re-start on a reduced dose (Blinded)" in subject_page
    assert "70 mg three times weekly" not in subject_page
