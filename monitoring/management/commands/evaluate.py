from django.core.management.base import BaseCommand, CommandError

from monitoring.evaluation import runner
from subjects.inputs import parse_datetime
from subjects.models import Subject


class Command(BaseCommand):
    help = "Re-evaluate subjects now, without the queue. --as-of fixes the evaluation time."

    def add_arguments(self, parser):
        parser.add_argument("subject_ids", nargs="*", metavar="SUBJECT_ID")
        parser.add_argument("--all", action="store_true", help="every subject")
        parser.add_argument(
            "--as-of", metavar="ISO_DATETIME", help="evaluation time (UTC if no offset)"
        )

    def handle(self, *args, subject_ids, **options):
        as_of = None
        if options["as_of"]:
            try:
                # A later time is allowed: what would be overdue by then.
                as_of = parse_datetime(options["as_of"], future=True)
            except ValueError as exc:
                raise CommandError(f"--as-of: {exc}") from None
        if options["all"] == bool(subject_ids):
            raise CommandError("give --all or one or more SUBJECT_IDs")
        if options["all"]:
            pks = runner.all_subject_pks()
        else:
            found = dict(
                Subject.objects.filter(subject_id__in=subject_ids).values_list("subject_id", "pk")
            )
            missing = [s for s in subject_ids if s not in found]
            if missing:
                raise CommandError(f"unknown subject(s): {', '.join(missing)}")
            pks = list(found.values())
        count = runner.evaluate_subjects(pks, as_of=as_of)
        self.stdout.write(f"Evaluated {count} subject(s).")
