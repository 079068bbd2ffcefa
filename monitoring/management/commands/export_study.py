from django.core.management.base import BaseCommand

from monitoring.formats import exports


class Command(BaseCommand):
    help = (
        "Export subjects, doses, labs, alerts, decisions and data queries as CSV files and one "
        "XLSX workbook. The subjects, doses and labs CSV files re-import with import_csv."
    )

    def add_arguments(self, parser):
        parser.add_argument("--output-dir", required=True, metavar="D")
        parser.add_argument("--format", choices=("csv", "xlsx", "both"), default="both", dest="fmt")

    def handle(self, *args, output_dir, fmt, **options):
        formats = ("csv", "xlsx") if fmt == "both" else (fmt,)
        for path in exports.export_study(output_dir, formats=formats):
            self.stdout.write(f"Wrote {path}")
