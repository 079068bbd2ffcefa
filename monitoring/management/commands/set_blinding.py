from django.core.management.base import BaseCommand, CommandError

from monitoring.services.blinding import set_blinding
from monitoring.services.errors import EntryError
from subjects.models import Study

MODES = {"blinded": True, "open": False}


class Command(BaseCommand):
    help = (
        'Make a study blinded (arms and regimens show as "Blinded" to all but the unblinded '
        "group) or open-label, with a reason kept in its audit history."
    )

    def add_arguments(self, parser):
        parser.add_argument("study", metavar="STUDY", help="the study's code")
        parser.add_argument("mode", metavar="blinded|open", choices=sorted(MODES))
        parser.add_argument("--reason", required=True, metavar="TEXT")

    def handle(self, *args, study, mode, reason, **options):
        try:
            found = Study.objects.get(code=study)
        except Study.DoesNotExist:
            raise CommandError(f"study: no study {study!r}") from None
        try:
            set_blinding(found, MODES[mode], reason=reason)
        except EntryError as error:
            raise CommandError(str(error)) from None
        label = "blinded" if found.blinded else "open-label"
        self.stdout.write(f"{found} is {label}.")
