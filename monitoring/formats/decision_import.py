"""Transcribed decisions from CSV: each row checked as the app would check it, then signed."""

from django.db import transaction

from monitoring.evaluation import runner
from monitoring.formats.csv_import import (
    BadRow,
    Summary,
    cell,
    default_study,
    parse_datetime,
    read_rows,
    required_text,
)
from subjects import inputs
from subjects.models import Subject

DECISION_COLUMNS = ("subject_id", "signed_at", "action", "regimen", "reviewer", "reason")
TRANSCRIBED_ACTIONS = ("withhold", "resume_same_dose", "resume_reduced_dose", "discontinue")


def import_decisions(path, study=None, *, entered_by=None) -> Summary:
    """Transcribed decisions: each row checked per subject in signing order against all of its
    labs and doses and the decisions before it; one the app would refuse is a bad row."""
    from django.contrib.auth import get_user_model

    from monitoring.services import review
    from monitoring.services.errors import EntryError
    from subjects import access
    from subjects.models import Regimen

    study = study or default_study()
    subjects = {s.subject_id: s for s in Subject.objects.filter(study=study)}
    regimens = {r.code.lower(): r for r in Regimen.objects.filter(study=study)}
    reviewers = {
        u.get_username(): u
        for u in get_user_model().objects.filter(groups__name=access.SAFETY_REVIEWER)
    }
    summary = Summary(path)
    rows, seen = [], {}
    for line, row in read_rows(path, DECISION_COLUMNS):
        summary.rows += 1
        subject_id = cell(path, line, row, "subject_id", required_text)
        if subject_id not in subjects:
            raise BadRow(path, line, "subject_id", f"unknown subject {subject_id!r}")
        signed_at = cell(path, line, row, "signed_at", parse_datetime)
        action = cell(path, line, row, "action", required_text).lower()
        if action not in TRANSCRIBED_ACTIONS:
            raise BadRow(
                path, line, "action", f"{action!r} is not one of {', '.join(TRANSCRIBED_ACTIONS)}"
            )
        code = (row.get("regimen") or "").strip()
        regimen = None
        if action == "resume_reduced_dose":
            if not code:
                raise BadRow(path, line, "regimen", "is required for resume_reduced_dose")
            regimen = regimens.get(code.lower())
            if regimen is None:
                raise BadRow(
                    path,
                    line,
                    "regimen",
                    f"{code!r} is not a regimen of {study} (use {', '.join(regimens)})",
                )
        elif code:
            raise BadRow(path, line, "regimen", f"must be empty for {action}")
        username = cell(path, line, row, "reviewer", required_text)
        if username not in reviewers:
            raise BadRow(path, line, "reviewer", f"{username!r} is not a safety reviewer")
        reason = cell(path, line, row, "reason", inputs.visible_text)
        key = (subject_id, signed_at, action)
        if key in seen:
            raise BadRow(path, line, "signed_at", f"the same decision is on line {seen[key]}")
        seen[key] = line
        rows.append(
            review.TranscribedDecision(
                line, subjects[subject_id], signed_at, action, regimen, reviewers[username], reason
            )
        )
    with transaction.atomic():
        try:
            saved = review.record_transcribed(rows, entered_by=entered_by)
        except EntryError as error:
            raise BadRow(path, error.line, error.field, error.message) from None
    summary.created = len(saved)
    summary.unchanged = len(rows) - len(saved)
    summary.subjects = {d.subject_id for d in saved}
    runner.mark_changed(summary.subjects, evaluate=False)
    return summary
