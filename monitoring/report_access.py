"""Who may use the reports, exports and web import (issue 4), on top of subjects.access.

- Study report and study exports: monitors, safety reviewers and staff (they see every site).
- A subject's report: anyone who may see the subject (a coordinator, their own sites' subjects;
  another site's subject is a 404 through access.subject_for).
- Web lab import: coordinators (rows for their own sites' subjects only) and staff.
"""

from subjects import access
from subjects.models import Subject

STUDY_ONLY = "The study report and exports are for monitors, safety reviewers and staff."
IMPORT_ONLY = "The lab import is for study coordinators and staff."


def can_see_study(user) -> bool:
    return user.is_authenticated and (
        user.is_staff or bool(access.roles(user) & {access.SAFETY_REVIEWER, access.MONITOR})
    )


def can_import_labs(user) -> bool:
    return user.is_authenticated and (user.is_staff or access.is_coordinator(user))


def import_scope(user):
    """The subjects a user's lab import may write to."""
    if user.is_staff:
        return Subject.objects.all()
    return access.visible_subjects(user)


def import_sites(user):
    """Codes of the sites whose subjects the user's lab import may write to."""
    return set(access.visible_sites(user).values_list("code", flat=True))
