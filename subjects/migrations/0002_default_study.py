from django.conf import settings
from django.db import migrations


def create_default_study(apps, schema_editor):
    Study = apps.get_model("subjects", "Study")
    Arm = apps.get_model("subjects", "Arm")
    study, _ = Study.objects.get_or_create(
        code=settings.HEPWATCH_DEFAULT_STUDY,
        defaults={"name": "Mipomersen: standard versus reduced dosing, liver safety"},
    )
    Arm.objects.get_or_create(
        study=study,
        code="standard",
        defaults={"name": "200 mg once weekly", "dose_mg": 200, "administrations_per_week": 1},
    )
    Arm.objects.get_or_create(
        study=study,
        code="reduced",
        defaults={"name": "70 mg three times weekly", "dose_mg": 70, "administrations_per_week": 3},
    )


def create_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ("coordinator", "safety_reviewer", "monitor"):
        Group.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [
        ("subjects", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RunPython(create_default_study, migrations.RunPython.noop),
        migrations.RunPython(create_groups, migrations.RunPython.noop),
    ]
