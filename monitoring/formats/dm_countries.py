"""CDISC DM's COUNTRY: each site's country (ISO 3166-1 alpha-3) read from its subjects' records
and set on the site; a stored, different country changes only with the import's reason."""

from django.core.exceptions import ValidationError

from monitoring.formats.csv_import import BadRow
from subjects.models import Site, validate_country


def read(data, number, row, site, countries):
    """Add the record's COUNTRY (when given) for `site` to `countries` {site: (number, code)};
    BadRow for a code that is not alpha-3 or differs from an earlier record of the site."""
    code = (row.get("COUNTRY") or "").strip().upper()
    if not code:
        return
    try:
        validate_country(code)
    except ValidationError as error:
        raise BadRow(data.path, number, "COUNTRY", error.messages[0]) from None
    earlier = countries.get(site)
    if earlier and earlier[1] != code:
        raise BadRow(
            data.path,
            number,
            "COUNTRY",
            f"{code} for site {site}, which record {earlier[0]} gives as {earlier[1]}",
        )
    countries.setdefault(site, (number, code))


def write(data, study, countries, reason=None):
    """Set the sites' countries. Call inside the import's transaction, after its subjects."""
    for site in Site.objects.filter(study=study, code__in=list(countries)):
        number, code = countries[site.code]
        if site.country == code:
            continue
        if site.country and not reason:
            raise BadRow(
                data.path,
                number,
                "COUNTRY",
                f"site {site.code} is in {site.country}; "
                f"a reason is required to change it to {code}",
            )
        site.country = code
        site.save(update_fields=["country"])
