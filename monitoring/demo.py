"""A realistic synthetic mipomersen study for the demo: two arms over 26 weeks, lipid response,
mild elevations, ≥ 3× episodes with repeats and the reviewers' signed decisions on them (reduced
and same-dose re-starts with doses at the new regimen, a discontinuation), cases still waiting
for a re-start decision or a repeat, and dosing errors (a dose while withheld, one off the
regimen). Deterministic for a seed; dates end at `today`."""

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth.models import Group, User
from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from monitoring.evaluation import runner
from monitoring.formats.csv_import import default_study
from monitoring.models import LabDraw, LabResult
from monitoring.services import lab_entry, review
from subjects import access, services
from subjects.models import Arm, Dose, Site, Subject, UnblindedRosterEntry

SITES = [("S01", "Leeds General"), ("S02", "Lyon Sud"), ("S03", "Utrecht UMC")]
DEMO_PASSWORD = "hepwatch-demo-2026"
DEMO_USERS = [
    ("coordinator", "coordinator", "Chloe Coordinator", ["S01", "S02"]),
    ("coordinator_s03", "coordinator", "Sam Site-Three", ["S03"]),
    ("reviewer", "safety_reviewer", "Rita Reviewer", []),
    ("monitor", "monitor", "Max Monitor", []),
    ("statistician", "monitor", "Stella Statistician", []),
]
# Also in the unblinded group, and on the study's unblinded roster: the independent statistician.
DEMO_UNBLINDED = ("statistician",)
DEMO_EMAIL_DOMAIN = "hepwatch.example"
WEEKS = 26
RESULT_DELAY = timedelta(hours=6)  # the central lab reports in the afternoon


@dataclass
class Plan:
    """One subject's story: which ALT pattern, and the draws and doses it leads to."""

    subject: Subject
    pattern: str
    draws: list = field(default_factory=list)  # (datetime, {analyte: (value, unit)}, symptoms)
    doses: list = field(default_factory=list)  # (datetime, mg)
    decisions: list = field(default_factory=list)  # (datetime, action, regimen code, reason)


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour, 0), tzinfo=UTC)


def _patterns(n, rng):
    """Each arm's stories, interleaved standard/reduced. As the reduced-dose protocol expects,
    most ≥ 3× episodes fall in the standard arm."""
    standard = [
        "episode_resolved",
        "episode_resolved",
        "episode_confirmed",
        "severe",
        "hys_law",
        "dose_while_withheld",
        "overdue_repeat",
    ] + ["mild"] * 6
    reduced = ["episode_resolved", "lab_overdue", "missing_baseline", "gilbert"] + ["mild"] * 4
    arms = []
    for patterns, size in ((standard, (n + 1) // 2), (reduced, n // 2)):
        patterns = (patterns + ["normal"] * size)[:size]
        rng.shuffle(patterns)
        arms.append(patterns)
    return [arms[i % 2][i // 2] for i in range(n)]


def _liver_panel(rng, sex, alt_multiple, tbil_multiple=None):
    alt_uln = 41 if sex == "M" else 33
    ast_uln = 40 if sex == "M" else 32
    alt = round(alt_uln * alt_multiple, 0)
    ast = round(ast_uln * alt_multiple * rng.uniform(0.6, 0.9), 0)
    panel = {
        "ALT": (Decimal(alt), "U/L"),
        "AST": (Decimal(max(ast, 8)), "U/L"),
        "ALP": (Decimal((129 if sex == "M" else 104) * rng.randint(40, 85) // 100), "U/L"),
    }
    if tbil_multiple is not None:
        panel["TBIL"] = (Decimal(str(round(1.2 * tbil_multiple, 2))), "mg/dL")
    return panel


def build_plans(study, today, rng, n_subjects=60):
    arms = {arm.code: arm for arm in Arm.objects.filter(study=study).select_related("regimen")}
    sites = {
        code: Site.objects.get_or_create(study=study, code=code, defaults={"name": name})[0]
        for code, name in SITES
    }
    start = today - timedelta(weeks=WEEKS)
    plans = []
    for i, pattern in enumerate(_patterns(n_subjects, rng)):
        sex = "M" if rng.random() < 0.55 else "F"
        arm = arms["standard" if i % 2 == 0 else "reduced"]
        enrolled = start + timedelta(days=rng.randint(0, 40))
        subject = Subject(
            study=study,
            site=sites[SITES[i % len(SITES)][0]],
            subject_id=f"MIP-{101 + i}",
            sex=sex,
            birth_date=date(rng.randint(1950, 1995), rng.randint(1, 12), rng.randint(1, 28)),
            arm=arm,
            enrolled_on=enrolled,
            active_liver_disease=False,
        )
        plans.append(_story(Plan(subject, pattern), arm, enrolled, today, rng))
    return plans


def _story(plan, arm, enrolled, today, rng):
    subject, pattern = plan.subject, plan.pattern
    first_dose_day = enrolled + timedelta(days=3)
    ldl0 = rng.uniform(150, 240)
    apob0 = rng.uniform(110, 170)
    # Lipid response: standard arm about -28% LDL-C, reduced about -22%, ApoB a little more.
    ldl_drop = rng.gauss(0.28 if arm.code == "standard" else 0.22, 0.07)
    apob_drop = rng.gauss(0.33 if arm.code == "standard" else 0.27, 0.07)
    baseline = _liver_panel(rng, subject.sex, rng.uniform(0.45, 0.85), rng.uniform(0.3, 0.7))
    baseline["ALP"] = (Decimal(rng.randint(50, 100)), "U/L")
    baseline["LDLC"] = (Decimal(str(round(ldl0, 1))), "mg/dL")
    baseline["APOB"] = (Decimal(str(round(apob0, 1))), "mg/dL")
    if pattern == "missing_baseline":
        baseline = {k: v for k, v in baseline.items() if k in ("ALT", "AST")}
    plan.draws.append((_at(first_dose_day - timedelta(days=2), 8), baseline, False))

    # Planned ALT multiple by week on treatment.
    episode_week = rng.randint(6, 14)
    withheld_from = withheld_until = None
    reduced_from = None
    weeks_on = (today - first_dose_day).days // 7
    lab_weeks = list(range(1, 5)) + list(range(6, weeks_on + 1, 2 if arm.code == "reduced" else 4))
    if pattern in (
        "episode_resolved",
        "episode_confirmed",
        "severe",
        "hys_law",
        "dose_while_withheld",
        "overdue_repeat",
    ):
        lab_weeks = sorted(set(lab_weeks) | {episode_week, episode_week + 1, episode_week + 2})
    if pattern == "overdue_repeat":
        episode_week = weeks_on - 1
        lab_weeks = [w for w in lab_weeks if w < episode_week] + [episode_week]
    if pattern == "lab_overdue":
        lab_weeks = [w for w in lab_weeks if w <= max(6, weeks_on - 8)]
    if pattern == "mild":
        mild_week = rng.choice(lab_weeks[2:] or lab_weeks)

    for week in lab_weeks:
        day = first_dose_day + timedelta(weeks=week, days=-1)
        if day >= today:
            continue
        multiple = rng.uniform(0.5, 0.95)
        tbil = rng.uniform(0.3, 0.8)
        symptoms = False
        if pattern == "mild" and week == mild_week:
            multiple = rng.uniform(1.2, 2.6)
        elif pattern in ("episode_resolved", "dose_while_withheld") and week >= episode_week:
            multiple = {0: 3.4, 1: 2.1, 2: 1.4}.get(week - episode_week, rng.uniform(0.6, 1.0))
        elif pattern == "episode_confirmed" and week >= episode_week:
            multiple = {0: 3.3, 1: 3.6, 2: 2.4, 3: 1.2}.get(week - episode_week, 0.9)
        elif pattern == "severe" and week >= episode_week:
            multiple = {0: 3.8, 1: 5.6, 2: 2.2}.get(week - episode_week, 0.95)
        elif pattern == "hys_law" and week >= episode_week:
            multiple, tbil, symptoms = {
                0: (4.2, 2.6, True),
                1: (3.9, 2.2, True),
                2: (2.5, 1.4, False),
                3: (1.6, 1.0, False),
            }.get(week - episode_week, (rng.uniform(0.8, 1.2), rng.uniform(0.5, 0.8), False))
        elif pattern == "gilbert":
            tbil = rng.uniform(2.1, 2.6)  # bilirubin alone: the eDISH upper-left quadrant
        elif pattern == "overdue_repeat" and week == episode_week:
            multiple = 3.5
        if multiple >= 3 and withheld_from is None:
            withheld_from = day
        if withheld_from and withheld_until is None and multiple < 3 and day > withheld_from:
            withheld_until = day
            # Re-started (at the decision's regimen) the day after the episode ends.
            reduced_from = day + timedelta(days=1)
        panel = _liver_panel(rng, subject.sex, multiple, tbil)
        if week in (4, 12, 26) or week == lab_weeks[-1]:
            effect = min(1.0, week / 8)
            panel["LDLC"] = (
                Decimal(str(round(ldl0 * (1 - ldl_drop * effect) * rng.uniform(0.95, 1.05), 1))),
                "mg/dL",
            )
            panel["APOB"] = (
                Decimal(str(round(apob0 * (1 - apob_drop * effect) * rng.uniform(0.95, 1.05), 1))),
                "mg/dL",
            )
        if rng.random() < 0.15:  # some labs report in SI units
            value, _ = panel["ALT"]
            panel["ALT"] = (Decimal(str(round(value / 60, 3))), "ukat/L")
        plan.draws.append((_at(day, 8), panel, symptoms))

    # The reviewer's decisions: a re-start two days after the episode ends (at the reduced
    # regimen from the standard arm), a discontinuation for Hy's law; some cases still wait.
    waiting = pattern == "episode_confirmed"
    discontinued = pattern == "hys_law" and withheld_from is not None
    if discontinued:
        plan.decisions.append(
            (
                _at(withheld_from + timedelta(days=1), 11),
                "discontinue",
                None,
                "Potential Hy's law with symptoms: treatment stopped, hepatology referral.",
            )
        )
    elif withheld_until and not waiting:
        if arm.code == "standard":
            decision = (
                "resume_reduced_dose",
                "reduced",
                "ALT back below 3× ULN; re-start at the reduced regimen as the protocol allows.",
            )
        else:
            decision = (
                "resume_same_dose",
                None,
                "ALT back below 3× ULN on the reduced regimen; re-start at the same dose.",
            )
        plan.decisions.append((_at(withheld_until + timedelta(days=1), 9), *decision))
    start_regimen = arm.regimen
    off_regimen_given = pattern != "severe"

    # Doses: the arm's schedule, paused while withheld, the re-start's regimen after it.
    day = first_dose_day
    wrong_dose_given = False
    while day < today:
        withheld = (
            withheld_from and day >= withheld_from and (reduced_from is None or day < reduced_from)
        )
        after_stop = (discontinued or waiting) and withheld_from and day >= withheld_from
        if (
            pattern == "dose_while_withheld"
            and withheld
            and day > withheld_from
            and not wrong_dose_given
        ):
            plan.doses.append((_at(day, 10), start_regimen.dose_mg))
            wrong_dose_given = True
        elif not withheld and not after_stop:
            if reduced_from and day >= reduced_from:
                if day.weekday() in (0, 2, 4):
                    mg = Decimal(70)
                    if not off_regimen_given:  # a 200 mg vial given after the reduced re-start
                        mg, off_regimen_given = start_regimen.dose_mg, True
                    plan.doses.append((_at(day, 10), mg))
            elif start_regimen.administrations_per_week == 1:
                if (day - first_dose_day).days % 7 == 0:
                    plan.doses.append((_at(day, 10), start_regimen.dose_mg))
            elif day.weekday() in (0, 2, 4) or day == first_dose_day:
                plan.doses.append((_at(day, 10), start_regimen.dose_mg))
        day += timedelta(days=1)
    return plan


@transaction.atomic
def seed(today=None, seed_value=2026, n_subjects=60, stdout=None, blinded=False):
    """Create the demo study's subjects, doses, labs and users; evaluate everyone. `blinded`
    runs the study double-blind (the statistician alone sees the arms)."""
    rng = random.Random(seed_value)
    today = today or datetime.now(UTC).date()
    study = default_study()
    if blinded and not study.blinded:
        from monitoring.services import blinding

        blinding.set_blinding(study, True, reason="demo: run double-blind")
    plans = build_plans(study, today, rng, n_subjects)
    services.create_generated_subjects([p.subject for p in plans], change_reason="demo")
    draws, results, doses = [], [], []
    for plan in plans:
        for collected_at, panel, symptoms in plan.draws:
            draw = LabDraw(
                subject=plan.subject,
                collected_at=collected_at,
                resulted_at=collected_at + RESULT_DELAY,
                lab_name="Central lab",
                symptoms_of_liver_injury=symptoms,
            )
            draws.append((draw, plan.subject, panel))
        doses += [
            Dose(subject=plan.subject, administered_at=at, dose_mg=mg) for at, mg in plan.doses
        ]
    bulk_create_with_history([d for d, _, _ in draws], LabDraw, default_change_reason="demo")
    ranges = lab_entry.reference_ranges()
    for draw, subject, panel in draws:
        for analyte, (value, unit) in panel.items():
            result = LabResult(draw=draw, analyte=analyte, value=value, unit=unit)
            results.append(lab_entry.fill_result(result, subject, draw.collected_at, ranges))
    bulk_create_with_history(results, LabResult, default_change_reason="demo")
    services.create_generated_doses(doses, change_reason="demo")
    _users()
    reviewer = User.objects.get(username="reviewer")
    signed = [
        review.sign_as_seeded(plan.subject, signed_at, action, code, reason, reviewer)
        for plan in plans
        for signed_at, action, code, reason in plan.decisions
    ]
    pks = [p.subject.pk for p in plans]
    runner.mark_changed(pks, evaluate=False)
    # An explicit evaluation time: the seeded past is not news to e-mail reviewers about.
    runner.evaluate_subjects(pks, as_of=timezone.now())
    for decision in signed:
        review.link_case_alerts(decision)
    return plans


def _users():
    sites = {s.code: s for s in Site.objects.all()}
    for username, group, full_name, site_codes in DEMO_USERS:
        first, last = full_name.split(" ", 1)
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{username}@{DEMO_EMAIL_DOMAIN}",
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        user.groups.add(Group.objects.get(name=group))
        if username in DEMO_UNBLINDED:
            UnblindedRosterEntry.objects.get_or_create(
                study=default_study(),
                user=user,
                defaults={"reason": "demo: the independent statistician"},
            )
            user.groups.add(Group.objects.get(name=access.UNBLINDED))
        for code in site_codes:
            sites[code].coordinators.add(user)
    admin, created = User.objects.get_or_create(
        username="admin", defaults={"is_staff": True, "is_superuser": True}
    )
    if created:
        admin.set_password(DEMO_PASSWORD)
        admin.save()
