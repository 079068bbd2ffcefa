"""Template tags and filters; badges, labels and colours come from monitoring/presentation.py."""

from datetime import UTC
from decimal import Decimal
from functools import lru_cache

from django import template
from django.templatetags.l10n import localize, unlocalize
from django.urls import reverse
from django.utils.html import conditional_escape, format_html, format_html_join
from django.utils.safestring import mark_safe

from monitoring import ctcae, presentation, units
from monitoring.models import exact_multiple
from monitoring.selectors import data_queries
from subjects import access, site_time

register = template.Library()

severity_badge = register.simple_tag(presentation.severity_badge)
state_badge = register.simple_tag(presentation.state_badge)
status_badge = register.simple_tag(presentation.status_badge)
multiple = register.filter(presentation.multiple)


@register.filter
def has_role(user, role):
    if role == "reviewer":
        return access.can_decide(user)
    if role == "enter":
        return access.can_enter_data(user)
    if role == "query":
        return access.can_raise_queries(user)
    return role in access.roles(user)


@register.filter
def awaits_second_factor(user):
    """Signed in with a password, the second factor still to come: the menu is not offered."""
    is_verified = getattr(user, "is_verified", None)  # set by django-otp's middleware
    return access.needs_second_factor(user) and is_verified is not None and not is_verified()


@register.filter
def role_label(user):
    return access.role_label(user)


@register.filter
def number(value):
    if value is None or value == "":
        return "—"
    return units.format_number(value)


@register.filter
def unit_label(unit):
    return units.unit_label(unit)


@register.filter
def moment(value):
    if not value:
        return "—"
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M}"


@register.filter
def site_moment(value, site):
    """A moment in the site's local time, with its zone: 2026-03-02 09:30 JST."""
    return site_time.shown(value, site)


@register.filter
def percent(value):
    if value is None:
        return "—"
    return f"{float(value):+.1f}%"


@register.filter
def get(mapping, key):
    return mapping.get(key) if mapping else None


@register.filter
def control(field, extra=""):
    """Render a bound field's widget with Bootstrap's classes, marked invalid when it has errors."""
    widget = field.field.widget
    input_type = getattr(widget, "input_type", "")
    if input_type in ("checkbox", "radio"):
        css = "form-check-input"
    elif widget.__class__.__name__ in ("Select", "SelectMultiple"):
        css = "form-select"
    else:
        css = "form-control"
    if extra:
        css += f" {extra}"
    if field.errors:
        css += " is-invalid"
    attrs = {"class": css}
    # Its errors, then its help, are read with it (templates/_field.html gives them these ids).
    described = [f"{field.auto_id}_errors"] if field.errors else []
    if field.help_text:
        described.append(f"{field.auto_id}_help")
    if described:
        attrs["aria-describedby"] = " ".join(described)
    if field.errors:
        attrs["aria-invalid"] = "true"
    return field.as_widget(attrs=attrs)


@register.simple_tag
def lab_rows(draws, analytes, site=None, queried=None):
    """The rows of a subject's lab table, latest first; times in the site's clock. `queried`
    (selectors.data_queries.by_row) flags a row, and a value, that has an open query."""
    queried = queried or {}
    return format_html_join(
        "\n",
        '<tr><td class="text-nowrap"><a href="{}">{}</a>{}</td>{}{}</tr>',
        (
            (
                reverse("draw", args=[row.draw.pk]),
                site_time.shown(row.draw.collected_at, site)
                if site
                else moment(row.draw.collected_at),
                query_flag(queried.get(("draw", row.draw.pk))),
                # Each cell is already safe HTML (format_html in result_cell): joined as is.
                mark_safe("".join(lab_cell(row, a, queried) for a in analytes)),
                SYMPTOMS_CELL if row.draw.symptoms_of_liver_injury else EMPTY_SYMPTOMS,
            )
            for row in reversed(draws)
        ),
    )


@register.simple_tag
def query_flag(queries):
    """A link to the first of these queries, saying how many wait (nothing for none)."""
    if not queries:
        return ""
    count = len(queries)
    return format_html(
        ' <a class="query-flag small" href="{}" title="{}"><i class="bi bi-question-circle-fill"'
        ' aria-hidden="true"></i> {} quer{}</a>',
        reverse("data_query", args=[queries[0].pk]),
        queries[0].question,
        count,
        "y" if count == 1 else "ies",
    )


@register.simple_tag
def awaiting_queries(user):
    """How many data queries wait for this user (the navigation's count)."""
    return data_queries.awaiting_count(user)


SYMPTOMS_CELL = mark_safe('<td><span class="badge text-bg-danger">yes</span></td>')
EMPTY_SYMPTOMS = mark_safe("<td></td>")
EMPTY_CELL = mark_safe('<td class="text-nowrap"><span class="text-body-tertiary">—</span></td>')


def lab_cell(row, analyte, queried=None):
    """One cell of a subject's lab table: value and unit, then ×ULN, the ULN and the grade."""
    r = row.results.get(analyte)
    if r is None:
        return EMPTY_CELL
    result = r.result
    return result_cell(
        result.analyte,
        *(_text(v) for v in (result.value, result.unit, result.reported_uln)),
        _text(result.uln),
        query_flag((queried or {}).get(("result", result.pk))),
    )


def _text(value):
    return None if value is None else str(value)


# A subject's values and ULNs repeat from draw to draw (liver enzymes are a few hundred whole
# numbers against a few ULNs), so identical results keep their cell as they keep their exact
# ×ULN (models.exact_multiple). Keyed by the values' exact texts: 1.0 and 1.00 are two cells;
# `flag` is a data query's link beside the value (query_flag), empty for nearly every cell.
@lru_cache(maxsize=8192)
def result_cell(analyte, value, unit, reported_uln, uln, flag=""):
    value, reported_uln, uln = (
        None if v is None else Decimal(v) for v in (value, reported_uln, uln)
    )
    multiple = exact_multiple(analyte, value, unit, reported_uln, uln)
    shown = format_html(
        '{} <span class="text-body-secondary small">{}</span>{}',
        units.format_number(value),
        units.unit_label(unit),
        flag,
    )
    high = multiple is not None and multiple >= 3 and analyte in units.PEAK_ANALYTES
    css = "text-nowrap cell-high" if high else "text-nowrap"
    if multiple is None:
        return format_html('<td class="{}">{}</td>', css, shown)
    exact = units.exact_uln(analyte, unit, reported_uln, uln)
    grade = ctcae.grade(analyte, multiple)
    grade = (
        format_html(' <span class="grade grade-{}">G{}</span>', int(grade), int(grade))
        if grade
        else ""
    )
    return format_html(
        '<td class="{}">{}<div class="small">{}'
        ' <span class="text-body-secondary">ULN {} {}</span>{}</div></td>',
        css,
        shown,
        units.format_multiple(multiple),
        units.format_number(exact),
        units.ANALYTES[analyte].canonical_unit,
        grade,
    )


@register.simple_tag
def table_rows(table):
    """The <tr>s of a django-tables2 page, as its bootstrap5 template writes them."""
    return format_html_join(
        "\n",
        "<tr {}>{}</tr>",
        (
            (
                row.attrs.as_html(),
                format_html_join(
                    "",
                    "<td {}>{}</td>",
                    (
                        (column.attrs["td"].as_html(), _cell(column, cell))
                        for column, cell in row.items()
                    ),
                ),
            )
            for row in table.paginated_rows
        ),
    )


def _cell(column, cell):
    if column.localize is not None:
        cell = localize(cell) if column.localize else unlocalize(cell)
    return conditional_escape(cell)


@register.filter
def blinded_unless(value, sees):
    """The arm's or regimen's name, or "Blinded" to a viewer who may not see it."""
    return value if sees else access.BLINDED
