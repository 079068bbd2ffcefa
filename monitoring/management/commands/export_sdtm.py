from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from monitoring.formats import sdtm


class Command(BaseCommand):
    help = (
        "Write CDISC SDTM DM, EX and LB as CSV (dm.csv, ex.csv, lb.csv) or, with --format xpt, "
        "SAS XPORT v5 (dm.xpt, ex.xpt, lb.xpt). COUNTRY is required in "
        "DM and sites record none: give --country SITE=ISO3 for each site (or --default-country), "
        "or set HEPWATCH_SITE_COUNTRIES."
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
            countries = _Default(countries, default_country.strip().upper())
        try:
            written = sdtm.export(output_dir, countries=countries, fmt=format)
        except sdtm.SdtmError as error:
            raise CommandError(str(error)) from None
        for path, rows in written:
            self.stdout.write(f"Wrote {path} ({rows} records)")


def _iso3(code):
    code = (code or "").strip()
    return len(code) == 3 and code.isalpha()


class _Default(dict):
    def __init__(self, mapping, default):
        super().__init__(mapping)
        self.default = default

    def get(self, key, fallback=None):
        return super().get(key) or self.default

    def __getitem__(self, key):
        return self.get(key)
