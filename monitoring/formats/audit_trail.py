"""The audit trail as CSV: every history record of the subjects one may see, one row per
changed field (who, when, what, from what to what, why), filtered by subject and dates."""

from datetime import UTC

from monitoring.formats import spreadsheets
from monitoring.selectors import audit

COLUMNS = ["subject_id", "at", "who", "action", "record", "field", "old", "new", "reason"]


def rows(subjects, *, since=None, until=None, progress=None, sees_arm=None):
    """Rows of the history of `subjects` (oldest first per subject), between the dates `since`
    and `until` (both included, UTC days); `progress(done, total)` after each subject;
    `sees_arm(subject)` False blinds that subject's arms and regimens."""
    subjects = list(subjects.order_by("subject_id"))
    for number, subject in enumerate(subjects, start=1):
        shown = sees_arm is None or sees_arm(subject)
        for entry in reversed(audit.subject_history(subject, shown)):
            day = entry.at.astimezone(UTC).date()
            if (since and day < since) or (until and day > until):
                continue
            at = entry.at.astimezone(UTC).isoformat().replace("+00:00", "Z")
            head = [subject.subject_id, at, entry.who, entry.kind, entry.what]
            for change in entry.changes or [audit.Change("", None, None)]:
                yield [*head, change.field, _text(change.old), _text(change.new), entry.reason]
        if progress:
            progress(number, len(subjects))


def _text(value):
    return "" if value is None else str(value)


def write(subjects, handle, **options):
    spreadsheets.write_csv(
        spreadsheets.Dataset("audit_trail", COLUMNS, rows(subjects, **options)), handle
    )
