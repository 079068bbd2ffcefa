import csv

from django.core.management.base import BaseCommand
from django.utils import timezone

from monitoring import rules
from monitoring.evaluation import loader, runner
from subjects.models import Subject


class Command(BaseCommand):
    help = (
        "Write subject_id,state,regimen: each subject's safety state over its whole history "
        "and the code of the regimen in force at its end (DESIGN.md sections 3 and 5)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--output", required=True, metavar="F")

    def handle(self, *args, output, **options):
        subjects = list(Subject.objects.order_by("subject_id").values_list("pk", "subject_id"))
        now = timezone.now()
        with open(output, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["subject_id", "state", "regimen"])
            for start in range(0, len(subjects), runner.EVALUATION_CHUNK):
                chunk = subjects[start : start + runner.EVALUATION_CHUNK]
                histories = loader.load_histories([pk for pk, _ in chunk])
                for pk, subject_id in chunk:
                    # The state and the regimen depend on the whole history, never on the time.
                    assessment = rules.evaluate(histories[pk], now)
                    regimen = assessment.regimen.code if assessment.regimen else ""
                    writer.writerow([subject_id, assessment.state, regimen])
        self.stdout.write(f"Wrote {len(subjects)} subject state(s) to {output}.")
