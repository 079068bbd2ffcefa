"""Rules v2: a draw's result time, decisions on a subject answering several alerts (amended,
transcribed, with a target regimen), an alert's case and acknowledgement, the regimen in force."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def fill(apps, schema_editor):
    LabDraw = apps.get_model("monitoring", "LabDraw")
    LabDraw.objects.filter(resulted_at__isnull=True).update(resulted_at=models.F("collected_at"))
    HistoricalLabDraw = apps.get_model("monitoring", "HistoricalLabDraw")
    HistoricalLabDraw.objects.filter(resulted_at__isnull=True).update(
        resulted_at=models.F("collected_at")
    )
    Decision = apps.get_model("monitoring", "Decision")
    for decision in Decision.objects.select_related("alert"):
        decision.subject_id = decision.alert.subject_id
        decision.save(update_fields=["subject"])
        decision.alerts.add(decision.alert)


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0002_draw_entered_at_index"),
        ("subjects", "0005_regimens"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="labdraw",
            name="resulted_at",
            field=models.DateTimeField(null=True),
        ),
        migrations.AddField(
            model_name="historicallabdraw",
            name="resulted_at",
            field=models.DateTimeField(null=True),
        ),
        migrations.AddField(
            model_name="decision",
            name="subject",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name="decisions", to="subjects.subject"),
        ),
        migrations.AddField(
            model_name="decision",
            name="alerts",
            field=models.ManyToManyField(blank=True, related_name="decisions", to="monitoring.alert"),
        ),
        migrations.AlterField(
            model_name="decision",
            name="alert",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="monitoring.alert"),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.RemoveField(model_name="decision", name="alert"),
        migrations.RemoveField(model_name="historicaldecision", name="alert"),
        migrations.AlterField(
            model_name="decision",
            name="subject",
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="decisions", to="subjects.subject"),
        ),
        migrations.AlterField(
            model_name="labdraw",
            name="resulted_at",
            field=models.DateTimeField(help_text="When the results were known: the lab's report time, else when they were entered; for imports without it, the collection time. Withholding starts here."),
        ),
        migrations.AlterField(
            model_name="historicallabdraw",
            name="resulted_at",
            field=models.DateTimeField(help_text="When the results were known: the lab's report time, else when they were entered; for imports without it, the collection time. Withholding starts here."),
        ),
    ]
