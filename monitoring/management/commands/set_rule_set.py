from django.core.management.base import BaseCommand, CommandError

from monitoring import rules
from monitoring.services.errors import EntryError
from monitoring.services.rule_sets import set_rule_set
from subjects.models import Study


class Command(BaseCommand):
    help = (
        "Switch a study to another published rule set (DESIGN section 3b), with a reason kept in "
        "its audit history; every subject is re-evaluated and alerts the new set no longer gives "
        f"are retracted. Sets: {', '.join(rules.RULE_SETS)}."
    )

    def add_arguments(self, parser):
        parser.add_argument("study", metavar="STUDY", help="the study's code")
        parser.add_argument("name", metavar="NAME", choices=sorted(rules.RULE_SETS))
        parser.add_argument("--reason", required=True, metavar="TEXT")

    def handle(self, *args, study, name, reason, **options):
        try:
            found = Study.objects.get(code=study)
        except Study.DoesNotExist:
            raise CommandError(f"study: no study {study!r}") from None
        try:
            rule_set = set_rule_set(found, name, reason=reason)
        except EntryError as error:
            raise CommandError(str(error)) from None
        count = found.subjects.count()
        self.stdout.write(f"{found} follows {rule_set.label}; {count} subject(s) re-evaluated.")
