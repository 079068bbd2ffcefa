"""Test data made the way users make it: through the services."""

from datetime import date
from decimal import Decimal

from monitoring.formats.csv_import import default_study
from monitoring.services import lab_entry
from subjects.models import Arm, Site, Subject


def make_subject(subject_id="S-001", site_code="S01", sex="M", arm="standard", **kwargs):
    study = default_study()
    site, _ = Site.objects.get_or_create(study=study, code=site_code, defaults={"name": site_code})
    return Subject.objects.create(
        study=study,
        site=site,
        subject_id=subject_id,
        sex=sex,
        birth_date=kwargs.pop("birth_date", date(1970, 5, 1)),
        arm=Arm.objects.get(study=study, code=arm),
        enrolled_on=kwargs.pop("enrolled_on", date(2026, 1, 1)),
        **kwargs,
    )


def results(**values):
    """results(ALT=135, AST=30) -> ResultEntry list in canonical units."""
    from monitoring.units import ANALYTES

    return [
        lab_entry.ResultEntry(analyte, Decimal(str(value)), ANALYTES[analyte].canonical_unit)
        for analyte, value in values.items()
    ]


def wipe_study_data(*, studies_too=False):
    """Delete every subject with its doses, labs, alerts and decisions (a round trip's empty
    database); with studies_too, the studies, their sites and arms as well."""
    from monitoring.models import Alert, Decision, LabDraw, LabResult, SubjectSafetyState
    from subjects.models import Dose, Regimen, Site, Study

    for model in (Decision, Alert, LabResult, LabDraw, Dose, SubjectSafetyState, Subject):
        model.objects.all().delete()
    if studies_too:
        for model in (Site, Arm, Regimen, Study):
            model.objects.all().delete()
