"""Regimens become data of their own: each arm's dose and frequency move to a regimen of the
same code, which the arm's subjects start on; a dose's reviewer override becomes the rule it
broke as the coordinator confirmed it (rules v2 records doses, it never refuses them)."""

import django.db.models.deletion
import simple_history.models
from django.conf import settings
from django.db import migrations, models


def arms_to_regimens(apps, schema_editor):
    Arm = apps.get_model("subjects", "Arm")
    Regimen = apps.get_model("subjects", "Regimen")
    for arm in Arm.objects.all():
        regimen, _ = Regimen.objects.get_or_create(
            study_id=arm.study_id,
            code=arm.code,
            defaults={
                "name": arm.name,
                "dose_mg": arm.dose_mg or None,
                "administrations_per_week": arm.administrations_per_week,
            },
        )
        arm.regimen = regimen
        arm.save(update_fields=["regimen"])


class Migration(migrations.Migration):
    dependencies = [
        ("subjects", "0004_screen_failure_help_text"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Regimen",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("code", models.CharField(max_length=40)),
                ("name", models.CharField(max_length=200)),
                ("dose_mg", models.DecimalField(blank=True, decimal_places=2, max_digits=8, null=True, verbose_name="dose per administration (mg)")),
                ("administrations_per_week", models.PositiveSmallIntegerField()),
                ("study", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="regimens", to="subjects.study")),
            ],
            options={"ordering": ["code"]},
        ),
        migrations.AddConstraint(
            model_name="regimen",
            constraint=models.UniqueConstraint(fields=("study", "code"), name="unique_regimen_code"),
        ),
        migrations.AddField(
            model_name="arm",
            name="regimen",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name="arms", to="subjects.regimen"),
        ),
        migrations.RunPython(arms_to_regimens, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="arm",
            name="regimen",
            field=models.ForeignKey(help_text="The regimen its subjects start on.", on_delete=django.db.models.deletion.PROTECT, related_name="arms", to="subjects.regimen"),
        ),
        migrations.RemoveField(model_name="arm", name="dose_mg"),
        migrations.RemoveField(model_name="arm", name="administrations_per_week"),
        migrations.RenameField(model_name="dose", old_name="override_reason", new_name="given_despite"),
        migrations.RenameField(model_name="historicaldose", old_name="override_reason", new_name="given_despite"),
    ]
