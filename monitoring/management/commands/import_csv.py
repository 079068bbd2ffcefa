from django.core.management.base import BaseCommand
from django.db import DatabaseError

from monitoring.evaluation import runner
from monitoring.formats import csv_import, decision_import, lab_csv
from subjects import inputs


class Command(BaseCommand):
    help = (
        "Import subjects, doses, lab results and transcribed decisions from CSV files "
        "(DESIGN.md section 5), read in that order. "
        "Idempotent; a bad row stops its file with FILE:LINE: field: reason and writes nothing "
        "of that file. A file that would change stored values is refused, listing each old "
        "and new value, unless --reason says why (kept in the audit history). Every subject "
        "whose data changed is evaluated once, at the end."
    )

    def add_arguments(self, parser):
        parser.add_argument("--subjects", metavar="F")
        parser.add_argument("--doses", metavar="F")
        parser.add_argument("--labs", metavar="F")
        parser.add_argument(
            "--decisions",
            metavar="F",
            help="Decisions transcribed from paper or an earlier system (staff only).",
        )
        parser.add_argument(
            "--reason",
            metavar="TEXT",
            help="why stored values change (required when a file changes any)",
        )

    def handle(self, *args, **options):
        steps = [
            (options["subjects"], csv_import.import_subjects),
            (options["doses"], csv_import.import_doses),
            (options["labs"], lab_csv.import_labs),
            # Decisions are only ever added (an amendment is a new decision): no --reason.
            (options["decisions"], lambda path, reason: decision_import.import_decisions(path)),
        ]
        if not any(path for path, _ in steps):
            self.stderr.write(
                "Nothing to import: give --subjects, --doses, --labs and/or --decisions."
            )
            raise SystemExit(2)
        reason = reason_option(self, options["reason"])
        failed = False
        changed = set()
        for path, step in steps:
            if not path:
                continue
            try:
                summary = step(path, reason=reason)
            except csv_import.BadRow as bad:
                self.stderr.write(str(bad))
                if isinstance(bad, csv_import.ReasonRequired):
                    self.stderr.write("Nothing of it was written. Give --reason to say why.")
                failed = True
                continue
            except DatabaseError as exc:
                self.stderr.write(
                    f"{path}: the database failed ({exc}); nothing of it was written. "
                    "Run the import again."
                )
                failed = True
                continue
            self.stdout.write(str(summary))
            changed |= summary.subjects
        if changed:
            runner.request_evaluation(changed)
            self.stdout.write(f"Queued evaluation of {len(changed)} subject(s).")
        if failed:
            raise SystemExit(1)


def reason_option(command, text):
    """--reason as given, or exit 2 when it holds no visible text; None when not given."""
    if text is None:
        return None
    try:
        return inputs.visible_text(text, "--reason")
    except ValueError as exc:
        command.stderr.write(f"{exc}.")
        raise SystemExit(2) from None
