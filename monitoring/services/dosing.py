"""The dosing judgement: whether a subject may be dosed now, and a dose judged at its own time."""

import logging
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from monitoring import rules
from monitoring.evaluation import loader
from monitoring.models import SubjectSafetyState
from monitoring.people import name_of
from monitoring.services import errors
from subjects.models import Subject
from subjects.services import record_dose

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DosingNow:
    """Whether the subject may be dosed now, why not, and the regimen in force."""

    may_dose: bool
    reason: str
    regimen: rules.Regimen | None
    regimen_since: object = None


def dosing_now(subject: Subject, history=None) -> DosingNow:
    history = history or loader.history_of(subject)
    now = timezone.now()
    timeline = rules.timeline_of(history)
    regimen, since = timeline.regimen_at(now)
    if timeline.discontinued(now):
        reason = (
            f"Treatment was discontinued on {rules.when(timeline.discontinued_at)} by "
            f"{timeline.discontinued_by}; any dose is rule R9."
        )
        return DosingNow(False, reason, regimen, since)
    cause = timeline.withheld_because(now)
    if cause is not None:
        reason = f"Dosing is withheld after {cause}; a dose now is rule R9."
        return DosingNow(False, reason, regimen, since)
    return DosingNow(True, "", regimen, since)


def judge_dose(subject: Subject, administered_at, dose_mg) -> rules.DoseJudgement:
    """What a dose at its own administered_at breaks, judged against the whole history."""
    return rules.judge_dose(loader.history_of(subject), administered_at, dose_mg)


class DoseNeedsConfirmation(errors.EntryError):
    """A dose that breaks a rule at its own time: recorded once the coordinator confirms it was
    given."""

    def __init__(self, judgement: rules.DoseJudgement):
        self.judgement = judgement
        super().__init__(
            "confirm_given",
            f"At that time {judgement.reason} (rule {judgement.rule}). Record it only if the "
            "dose was given: tick the confirmation, and the safety reviewers are alerted.",
        )


@transaction.atomic
def record_judged_dose(subject, administered_at, dose_mg, *, user, confirmed=False):
    """Record a dose that was given. One that breaks a rule at its own time needs the
    coordinator's confirmation that it was given; it is recorded with what it broke, and the
    engine raises R9 or R11 on it. A dose is never refused for what it broke."""
    SubjectSafetyState.objects.get_or_create(subject=subject)
    SubjectSafetyState.objects.select_for_update().filter(subject=subject).first()
    judgement = judge_dose(subject, administered_at, dose_mg)
    if judgement.rule and not confirmed:
        log.info(
            "dose for %s at %s not recorded yet: %s asked to confirm (%s)",
            subject,
            administered_at.isoformat(),
            user,
            judgement.reason,
        )
        raise DoseNeedsConfirmation(judgement)
    given_despite = ""
    if judgement.rule:
        given_despite = (
            f"Rule {judgement.rule}: {judgement.reason}. Confirmed given by {name_of(user)}."
        )
    return record_dose(subject, administered_at, dose_mg, user=user, given_despite=given_despite)
