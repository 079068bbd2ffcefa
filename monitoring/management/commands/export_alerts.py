import csv
from datetime import UTC

from django.core.management.base import BaseCommand

from monitoring.models import Alert


def iso_utc(moment):
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else ""


class Command(BaseCommand):
    help = "Write every alert, retracted ones included, as CSV (DESIGN.md section 5)."

    def add_arguments(self, parser):
        parser.add_argument("--output", required=True, metavar="F")

    def handle(self, *args, output, **options):
        alerts = Alert.objects.select_related("subject").order_by(
            "subject__subject_id", "triggered_at", "rule"
        )
        count = 0
        with open(output, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(
                ["subject_id", "kind", "severity", "status", "triggered_at", "due_by", "rule"]
            )
            for alert in alerts.iterator(chunk_size=2000):
                writer.writerow(
                    [
                        alert.subject.subject_id,
                        alert.kind,
                        alert.severity,
                        alert.status,
                        iso_utc(alert.triggered_at),
                        iso_utc(alert.due_by),
                        alert.rule,
                    ]
                )
                count += 1
        self.stdout.write(f"Wrote {count} alert(s) to {output}.")
