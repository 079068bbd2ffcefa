import time

from django.core.management.base import BaseCommand, CommandError

from monitoring.reports import subject_report
from subjects.models import Subject


class Command(BaseCommand):
    help = (
        "Write a subject's liver safety report as a PDF (or, with --csv, the same content as a "
        "zip of CSV files)."
    )

    def add_arguments(self, parser):
        parser.add_argument("subject_id", metavar="SUBJECT_ID")
        parser.add_argument("-o", "--output", required=True, metavar="F")
        parser.add_argument("--paper", choices=sorted(subject_report.PAPER_SIZES), default="a4")
        parser.add_argument("--csv", action="store_true", help="a zip of CSV files, not a PDF")

    def handle(self, *args, subject_id, output, paper, csv, **options):
        subject = (
            Subject.objects.select_related("site", "arm", "study")
            .filter(subject_id=subject_id)
            .first()
        )
        if subject is None:
            raise CommandError(f"unknown subject {subject_id!r}")
        started = time.perf_counter()
        report = subject_report.subject_report(subject)
        content = (
            subject_report.report_csv_bundle(report)
            if csv
            else subject_report.report_pdf(report, paper)
        )
        with open(output, "wb") as handle:
            handle.write(content)
        what = "CSV bundle" if csv else f"PDF ({paper})"
        self.stdout.write(
            f"Wrote the {what} report of {subject_id} to {output} "
            f"({len(content)} bytes, {time.perf_counter() - started:.2f} s)."
        )
