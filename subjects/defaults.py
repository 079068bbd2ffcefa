"""The data every installation starts with: the default study (its regimens and the arms that
start on them) and the role groups. The migrations create them; tests that flush the database
make them again through here."""

from django.conf import settings
from django.contrib.auth.models import Group

from .models import Arm, Regimen, Study

STUDY_NAME = "Mipomersen: standard versus reduced dosing, liver safety"
# code: (name, mg per administration, administrations a week)
REGIMENS = {
    "standard": ("200 mg once weekly", 200, 1),
    "reduced": ("70 mg three times weekly", 70, 3),
}
ROLES = ("coordinator", "safety_reviewer", "monitor", "unblinded")


def ensure_default_study() -> Study:
    study, _ = Study.objects.get_or_create(
        code=settings.HEPWATCH_DEFAULT_STUDY, defaults={"name": STUDY_NAME}
    )
    for code, (name, mg, per_week) in REGIMENS.items():
        regimen, _ = Regimen.objects.get_or_create(
            study=study,
            code=code,
            defaults={"name": name, "dose_mg": mg, "administrations_per_week": per_week},
        )
        Arm.objects.get_or_create(
            study=study, code=code, defaults={"name": name, "regimen": regimen}
        )
    return study


def ensure_groups():
    for name in ROLES:
        Group.objects.get_or_create(name=name)
