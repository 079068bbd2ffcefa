"""Who may see and do what. Roles are Django groups (created by subjects/migrations/0002):

- coordinator: enters and edits subjects, doses and labs of their own sites only
  (Site.coordinators); another site's subject is a 404, even by guessing its URL.
- safety_reviewer: sees all sites, triages alerts and signs decisions; cannot edit labs (403).
- monitor: reads and exports.
- staff: the Django admin.
- unblinded: sees the arms and regimens of a blinded study whose unblinded roster lists them
  (an independent statistician, a DMC member); everyone else sees "Blinded" there, except the
  one subject a safety reviewer emergency-unblinded, to that reviewer.

Reviewers, unblinded users and staff confirm every sign-in with a second factor
(needs_second_factor; enforced by config.middleware.SecondFactorRequiredMiddleware).
"""

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from .models import Subject

COORDINATOR = "coordinator"
SAFETY_REVIEWER = "safety_reviewer"
MONITOR = "monitor"
UNBLINDED = "unblinded"
BLINDED = "Blinded"
ROLE_LABELS = {
    COORDINATOR: "Study coordinator",
    SAFETY_REVIEWER: "Safety reviewer",
    MONITOR: "Monitor",
    UNBLINDED: "Unblinded",
}


CACHED = (
    "_hepwatch_roles",
    "_hepwatch_rostered",
    "_hepwatch_unblinded_subjects",
    "_hepwatch_blinded_studies",
)


def once_per_request(user, name, compute):
    """compute() once per request: kept on the user object, which lives as long as the request,
    as attribute `name` (forget_cached drops those of CACHED, this module's own)."""
    cached = getattr(user, name, None)
    if cached is None:
        cached = compute()
        setattr(user, name, cached)
    return cached


def roles(user) -> frozenset:
    """The user's role names, looked up once per request."""
    if not user.is_authenticated:
        return frozenset()
    return once_per_request(
        user, "_hepwatch_roles", lambda: frozenset(user.groups.values_list("name", flat=True))
    )


def is_coordinator(user) -> bool:
    return COORDINATOR in roles(user)


def is_reviewer(user) -> bool:
    return SAFETY_REVIEWER in roles(user)


def sees_all_sites(user) -> bool:
    """Reviewers, monitors and staff read every site; a coordinator only their own."""
    return user.is_staff or bool(roles(user) & {SAFETY_REVIEWER, MONITOR})


def can_enter_data(user) -> bool:
    """Enter and correct labs and doses (of the subjects the user can see)."""
    return is_coordinator(user)


def can_decide(user) -> bool:
    """Sign decisions on alerts, acknowledge them, and override a withheld dose."""
    return is_reviewer(user)


def needs_second_factor(user) -> bool:
    """Those who sign dosing decisions, see the arms of a blinded study or run the admin: a stolen
    password alone must not be enough for them."""
    if not user.is_authenticated:
        return False
    return user.is_staff or user.is_superuser or bool(roles(user) & {SAFETY_REVIEWER, UNBLINDED})


def can_raise_queries(user) -> bool:
    """Open a data query on a recorded value, close it or send it back: monitors and safety
    reviewers (any of them, not only the one who opened it)."""
    return bool(roles(user) & {MONITOR, SAFETY_REVIEWER})


def can_answer_queries(user) -> bool:
    """Answer a data query, by a correction or an explanation: the site's coordinators (the
    query's site is checked by looking it up among the visible subjects)."""
    return is_coordinator(user)


def role_label(user) -> str:
    shown = (COORDINATOR, SAFETY_REVIEWER, MONITOR, UNBLINDED)
    names = [ROLE_LABELS[r] for r in shown if r in roles(user)]
    if not names and user.is_staff:
        names = ["Administrator"]
    return ", ".join(names) or "No role"


# ---- blinding -----------------------------------------------------------------------------


def is_unblinded(user) -> bool:
    return UNBLINDED in roles(user)


def _rostered_study_ids(user) -> frozenset:
    from .models import UnblindedRosterEntry

    return once_per_request(
        user,
        "_hepwatch_rostered",
        lambda: frozenset(
            UnblindedRosterEntry.objects.filter(user=user).values_list("study_id", flat=True)
        ),
    )


def sees_arms(user, study) -> bool:
    """Arms and regimens of every subject of the study: an open-label study's to everyone, a
    blinded one's to members of `unblinded` whom the study's roster lists."""
    if not study.blinded:
        return True
    return user.is_authenticated and is_unblinded(user) and study.pk in _rostered_study_ids(user)


def _unblinded_subject_ids(user) -> frozenset:
    from .models import EmergencyUnblinding

    return once_per_request(
        user,
        "_hepwatch_unblinded_subjects",
        lambda: frozenset(
            EmergencyUnblinding.objects.filter(reviewer=user).values_list("subject_id", flat=True)
        ),
    )


def sees_arm_of(user, subject) -> bool:
    """This subject's arm and regimens: as sees_arms, or the subject this user (a safety
    reviewer) emergency-unblinded."""
    if sees_arms(user, subject.study):
        return True
    return user.is_authenticated and subject.pk in _unblinded_subject_ids(user)


def studies_blinded_to(user) -> list:
    """The blinded studies whose arms this user may not see (looked up once per request)."""
    from .models import Study

    return once_per_request(
        user,
        "_hepwatch_blinded_studies",
        lambda: [s for s in Study.objects.filter(blinded=True) if not sees_arms(user, s)],
    )


def arms_seen(user):
    """The arms whose names this user may see (for the arm filter)."""
    from .models import Arm

    hidden = studies_blinded_to(user)
    return Arm.objects.exclude(study__in=hidden) if hidden else Arm.objects.all()


def can_emergency_unblind(user, subject) -> bool:
    """A safety reviewer, in a blinded study, for a subject whose arm they cannot see yet."""
    return subject.study.blinded and is_reviewer(user) and not sees_arm_of(user, subject)


def arm_name(user, subject) -> str:
    return subject.arm.name if sees_arm_of(user, subject) else BLINDED


def arm_code(user, subject) -> str:
    return subject.arm.code if sees_arm_of(user, subject) else BLINDED


def visible_subjects(user):
    """The subjects this user may see."""
    subjects = Subject.objects.all()
    if sees_all_sites(user):
        return subjects
    if is_coordinator(user):
        return subjects.filter(site__coordinators=user)
    return subjects.none()


def visible_sites(user):
    from .models import Site

    if sees_all_sites(user):
        return Site.objects.all()
    return Site.objects.filter(coordinators=user)


def subject_for(user, pk):
    """The subject, or 404 when it does not exist or belongs to a site the user cannot see."""
    return get_object_or_404(visible_subjects(user).select_related("site", "arm", "study"), pk=pk)


def require(allowed: bool, message="Your role does not allow this page or action."):
    """403 unless allowed, with a message the 403 page shows. Check the role before looking the
    object up, so a reviewer trying to edit a lab gets 403 while a coordinator of another site
    gets 404."""
    if not allowed:
        raise PermissionDenied(message)


# ---- reports, exports and the web import --------------------------------------------------

ONLY_COORDINATORS_LABS = "Only a study coordinator of the subject's site enters and corrects labs."
ONLY_COORDINATORS_DOSES = "Only a study coordinator of the subject's site records doses."
ONLY_REVIEWERS = "Only a safety reviewer signs decisions on alerts and acknowledges them."
ONLY_REVIEWERS_UNBLIND = "Only a safety reviewer unblinds a subject in an emergency."
STUDY_ONLY = "The study report and exports are for monitors, safety reviewers and staff."
IMPORT_ONLY = "The lab import is for study coordinators and staff."
ONLY_MONITORS_QUERY = (
    "Only a monitor or a safety reviewer opens, closes or sends back a data query."
)
ONLY_COORDINATORS_ANSWER = "Only a study coordinator of the subject's site answers data queries."


def can_see_study(user) -> bool:
    return user.is_authenticated and (
        user.is_staff or bool(roles(user) & {SAFETY_REVIEWER, MONITOR})
    )


def can_import_labs(user) -> bool:
    return user.is_authenticated and (user.is_staff or is_coordinator(user))


def import_scope(user):
    """The subjects a user's lab import may write to."""
    if user.is_staff:
        return Subject.objects.all()
    return visible_subjects(user)


def import_sites(user):
    """Codes of the sites whose subjects the user's lab import may write to."""
    return set(visible_sites(user).values_list("code", flat=True))


def forget_cached(user):
    """Drop what this module cached on the user (after their roles, roster or unblindings
    changed within one request)."""
    for name in CACHED:
        if hasattr(user, name):
            delattr(user, name)
