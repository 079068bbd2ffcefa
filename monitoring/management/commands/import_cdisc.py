from django.core.management.base import BaseCommand
from django.db import DatabaseError

from monitoring.evaluation import runner
from monitoring.formats import cdisc, csv_import

from .import_csv import reason_option


class Command(BaseCommand):
    help = (
        "Import CDISC datasets: SDTM DM, EX, LB and ADaM ADSL, ADLB, as SAS XPORT (.xpt) or CSV. "
        "Each file's dataset is told by its variables; files are taken DM/ADSL first, then EX, "
        "then LB/ADLB. A bad record stops its file (FILE:RECORD: VARIABLE: reason) and writes "
        "nothing of it; so does a change to stored values without --reason. Every subject whose "
        "data changed is evaluated once, at the end."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="FILE")
        parser.add_argument(
            "--study",
            metavar="CODE",
            help="import into this study, whatever STUDYID says (created when new)",
        )
        parser.add_argument(
            "--reason",
            metavar="TEXT",
            help="why stored values change (required when a file changes any)",
        )

    def handle(self, *args, files, study, **options):
        reason = reason_option(self, options["reason"])
        try:
            outcome = cdisc.import_files(files, study_code=study, reason=reason)
        except DatabaseError as exc:
            self.stderr.write(
                f"The database failed ({exc}); the file being written was not. Run the import "
                "again: files already imported are left unchanged."
            )
            raise SystemExit(1) from None
        for summary in outcome.summaries:
            self.stdout.write(str(summary))
        for error in outcome.errors:
            self.stderr.write(str(error))
            if isinstance(error, csv_import.ReasonRequired):
                self.stderr.write("Nothing of it was written. Give --reason to say why.")
        if outcome.changed:
            runner.request_evaluation(outcome.changed)
            self.stdout.write(f"Queued evaluation of {len(outcome.changed)} subject(s).")
        if outcome.errors:
            raise SystemExit(1)
