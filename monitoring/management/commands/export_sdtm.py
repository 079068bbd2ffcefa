from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from monitoring.formats import sdtm
from subjects.models import Site


class Command(BaseCommand):
    help = (
        "Write CDISC SDTM DM, EX and LB as CSV (dm.csv, ex.csv, lb.csv) or, with --format xpt, "
        "SAS XPORT v5 (dm.xpt, ex.xpt, lb.xpt). DM's COUNTRY is each site's country (set in "
        "the admin or by the CDISC DM import); --country SITE=ISO3 (or HEPWATCH_SITE_COUNTRIES) "
        "overrides it, and --default-country fills it for sites that have none."
    )

    def add_arguments(self, parser):
        parser.add_argument("--output-dir", required=True, metavar="D")
        parser.add_argument(
            "--country",
            action="append",
            default=[],
            metavar="SITE=ISO3",
            help="a site's country as ISO 3166-1 alpha-3, e.g. S01=GBR (repeat per site)",
        )
        parser.add_argument("--default-country", metavar="ISO3", help="for sites not named")
        parser.add_argument(
            "--format",
            choices=sorted(sdtm.WRITERS),
            default="csv",
            help="csv (default) or xpt: SAS XPORT v5, the transport format the FDA requires",
        )

    def handle(self, *args, output_dir, country, default_country, format, **options):
        countries = dict(getattr(settings, "HEPWATCH_SITE_COUNTRIES", {}) or {})
        for item in country:
            site, sep, code = item.partition("=")
            if not sep or not site.strip() or not _iso3(code):
                raise CommandError(f"--country {item!r}: use SITE=ISO3, e.g. S01=GBR")
            countries[site.strip()] = code.strip().upper()
        if default_country is not None:
            if not _iso3(default_country):
                raise CommandError(f"--default-country {default_country!r}: use ISO3, e.g. GBR")
            default = default_country.strip().upper()
            for site in Site.objects.all():
                countries.setdefault(site.code, site.country or default)
        try:
            written = sdtm.export(output_dir, countries=countries, fmt=format)
        except sdtm.SdtmError as error:
            raise CommandError(str(error)) from None
        for path, rows in written:
            self.stdout.write(f"Wrote {path} ({rows} records)")


def _iso3(code):
    code = (code or "").strip()
    return len(code) == 3 and code.isalpha()
