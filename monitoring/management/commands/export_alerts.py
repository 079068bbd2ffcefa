from django.core.management.base import BaseCommand

from monitoring.formats import spreadsheets
from monitoring.models import Alert

COLUMNS = ["subject_id", "kind", "severity", "status", "triggered_at", "due_by", "rule"]


class Command(BaseCommand):
    help = "Write every alert, retracted ones included, as CSV (DESIGN.md section 5)."

    def add_arguments(self, parser):
        parser.add_argument("--output", required=True, metavar="F")

    def handle(self, *args, output, **options):
        alerts = Alert.objects.select_related("subject").order_by(
            "subject__subject_id", "triggered_at", "rule"
        )
        rows = (
            [a.subject.subject_id, a.kind, a.severity, a.status, a.triggered_at, a.due_by, a.rule]
            for a in alerts.iterator(chunk_size=2000)
        )
        data = spreadsheets.Dataset("alerts", COLUMNS, rows)
        with open(output, "w", newline="", encoding="utf-8") as handle:
            spreadsheets.write_csv(data, handle)
        self.stdout.write(f"Wrote {alerts.count()} alert(s) to {output}.")
