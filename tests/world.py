"""The tests' users and small study: make_user for every test, and build_world (the `world`
fixture of conftest.py) for the report, export, SDTM and web import tests, made through the
services the way users make it: two sites, a coordinator of each, a reviewer, a monitor, staff."""

from datetime import timedelta

from django.contrib.auth.models import Group, User
from django.utils import timezone

from monitoring.evaluation import runner
from monitoring.models import Alert
from monitoring.services import lab_entry, review
from subjects.models import Dose

from .factories import make_subject, results

PASSWORD = "correct horse battery staple"
NOW = timezone.now().replace(microsecond=0, second=0, minute=0)


def at(days_ago, hour=8):
    return (NOW - timedelta(days=days_ago)).replace(hour=hour)


def make_user(username, group=None, **extra):
    user = User.objects.create_user(username, password=PASSWORD, **extra)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


def build_world(capture):
    """`own` (site S01, Chloe's): baseline, weekly 200 mg, a 4× ALT with TBIL 2.5× and symptoms
    (R3, R5-free, R6), a signed decision. `other` (site S02, Olaf's): a quiet reduced-arm subject.
    `capture` is django_capture_on_commit_callbacks, so evaluation runs as it would."""
    coordinator = make_user("chloe", "coordinator", first_name="Chloe", last_name="Coord")
    other_coordinator = make_user("olaf", "coordinator")
    reviewer = make_user("rita", "safety_reviewer", first_name="Rita", last_name="Rev")
    monitor = make_user("max", "monitor")
    staff = make_user("sam", is_staff=True)
    enrolled = (NOW - timedelta(days=80)).date()
    own = make_subject("MIP-001", "S01", enrolled_on=enrolled)
    other = make_subject("MIP-002", "S02", sex="F", arm="reduced", enrolled_on=enrolled)
    own.site.coordinators.add(coordinator)
    other.site.coordinators.add(other_coordinator)
    with capture(execute=True):
        for subject in (own, other):
            lab_entry.record_draw(
                subject,
                at(70),
                results(ALT=20, AST=22, ALP=80, TBIL="0.5", LDLC=180, APOB=120),
            )
        for week in range(6):
            Dose.objects.create(subject=own, administered_at=at(69 - 7 * week, 10), dose_mg=200)
        for day in (69, 67, 65):
            Dose.objects.create(subject=other, administered_at=at(day, 10), dose_mg=70)
        lab_entry.record_draw(own, at(40), results(ALT=30, AST=25, TBIL="0.6", LDLC=140, APOB=90))
        lab_entry.record_draw(
            own, at(20), results(ALT=164, AST=60, ALP=90, TBIL="3.0"), symptoms=True
        )
        lab_entry.record_draw(other, at(20), results(ALT=25, AST=20, TBIL="0.4", LDLC=150))
        runner.mark_changed([own.pk, other.pk])
    discontinue = Alert.objects.get(subject=own, kind="discontinue")
    with capture(execute=True):
        review.record_decision(
            own,
            [discontinue],
            reviewer,
            "discontinue",
            "ALT 4× with bilirubin 2.5× and right upper quadrant pain: stop mipomersen.",
            PASSWORD,
        )
    return {
        "coordinator": coordinator,
        "other_coordinator": other_coordinator,
        "reviewer": reviewer,
        "monitor": monitor,
        "staff": staff,
        "own": own,
        "other": other,
    }
