"""Presentation helpers. Severity and safety state each have one colour and one icon, defined
here and nowhere else."""

import html
from datetime import UTC
from functools import lru_cache

from django import template
from django.templatetags.l10n import localize, unlocalize
from django.urls import reverse
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe

from monitoring import rules, units
from monitoring.models import STATE_CHOICES
from subjects import access

register = template.Library()

SEVERITY_STYLE = {
    "critical": ("bi-exclamation-octagon-fill", "Critical"),
    "high": ("bi-exclamation-triangle-fill", "High"),
    "medium": ("bi-exclamation-circle-fill", "Medium"),
    "low": ("bi-info-circle-fill", "Low"),
}
STATE_ICONS = {
    rules.DOSING: "bi-check-circle",
    rules.MONITORING: "bi-eye",
    rules.RESTART_PENDING: "bi-hourglass-split",
    rules.WITHHELD: "bi-pause-circle-fill",
    rules.DISCONTINUED: "bi-x-octagon-fill",
}
STATE_LABELS = dict(STATE_CHOICES)
STATUS_STYLE = {
    "open": "status-open",
    "acknowledged": "status-acknowledged",
    "resolved": "status-resolved",
    "retracted": "status-retracted",
}


@register.simple_tag
def severity_badge(severity, label=True):
    icon, text = SEVERITY_STYLE.get(severity, ("bi-question-circle", severity))
    if not label:
        return format_html(
            '<i class="bi {} sev-icon sev-{}" role="img" aria-label="{}" title="{}"></i>',
            icon,
            severity,
            text,
            text,
        )
    return format_html(
        '<span class="badge sev-badge sev-{}"><i class="bi {}" aria-hidden="true"></i> {}</span>',
        severity,
        icon,
        text,
    )


def severity_html(severity, label=True):
    return severity_badge(severity, label)


@register.simple_tag
def state_badge(state):
    icon = STATE_ICONS.get(state, "bi-question-circle")
    text = STATE_LABELS.get(state, state or "Not evaluated")
    return format_html(
        '<span class="badge state-badge state-{}"><i class="bi {}" aria-hidden="true"></i> {}'
        "</span>",
        state or "none",
        icon,
        text,
    )


@register.simple_tag
def status_badge(status, label=None):
    return format_html(
        '<span class="badge status-badge {}">{}</span>',
        STATUS_STYLE.get(status, ""),
        label or status.capitalize(),
    )


@register.filter
def has_role(user, role):
    if role == "reviewer":
        return access.can_decide(user)
    if role == "enter":
        return access.can_enter_data(user)
    return role in access.roles(user)


@register.filter
def role_label(user):
    return access.role_label(user)


@register.filter
def multiple(value):
    """×ULN truncated to 2 decimals (never shows 3.00× for 2.999×)."""
    if value is None or value == "":
        return "—"
    return units.format_multiple(units.Fraction(value))


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
def lab_rows(draws, analytes):
    """The rows of a subject's lab table, latest first, built in one pass: a subject followed
    for years has hundreds of draws, and the template loop cost more than the cells."""
    symptoms = '<td><span class="badge text-bg-danger">yes</span></td>'
    rows = []
    for row in reversed(draws):
        draw = row.draw
        cells = "".join(lab_cell(row, analyte) for analyte in analytes)
        rows.append(
            f'<tr><td class="text-nowrap"><a href="{reverse("draw", args=[draw.pk])}">'
            f"{moment(draw.collected_at)}</a></td>{cells}"
            f"{symptoms if draw.symptoms_of_liver_injury else '<td></td>'}</tr>"
        )
    return mark_safe("\n".join(rows))


def lab_cell(row, analyte):
    """One cell of a subject's lab table. Every piece is a number or a unit from validated data,
    escaped all the same (by the standard library's html.escape, which Django's escape wraps:
    the wrapper's lazy-string check cost a third of the table)."""
    r = row.results.get(analyte)
    if r is None:
        return EMPTY_CELL
    result = r.result
    high = r.multiple is not None and r.multiple >= 3 and analyte in units.PEAK_ANALYTES
    parts = [
        '<td class="text-nowrap cell-high">' if high else '<td class="text-nowrap">',
        _value_html(result.value, result.unit),
    ]
    if r.multiple is not None:
        parts += [
            '<div class="small">',
            html.escape(units.format_multiple(r.multiple)),
            _uln_html(result.analyte, result.unit, result.reported_uln, result.uln),
        ]
        if r.grade:
            parts.append(f' <span class="grade grade-{int(r.grade)}">G{int(r.grade)}</span>')
        parts.append("</div>")
    parts.append("</td>")
    return mark_safe("".join(parts))


# A subject's values and ULNs repeat from draw to draw: their text is kept, not redone.
@lru_cache(maxsize=4096)
def _value_html(value, unit):
    return (
        f"{html.escape(units.format_number(value))} "
        f'<span class="text-body-secondary small">{html.escape(units.unit_label(unit))}</span>'
    )


@lru_cache(maxsize=1024)
def _uln_html(analyte, unit, reported_uln, uln):
    exact = units.exact_uln(analyte, unit, reported_uln, uln)
    canonical = units.ANALYTES[analyte].canonical_unit
    return (
        f' <span class="text-body-secondary">ULN {html.escape(units.format_number(exact))} '
        f"{html.escape(canonical)}</span>"
    )


EMPTY_CELL = mark_safe('<td class="text-nowrap"><span class="text-body-tertiary">—</span></td>')


@register.simple_tag
def table_rows(table):
    """The <tr>s of a django-tables2 page, as its bootstrap5 template writes them, built in one
    pass in Python: the template loop costs more than the cells (a page of the alerts queue has
    450), and this is the queue's most-requested part (bench/README.md)."""
    rows = []
    for row in table.paginated_rows:
        cells = "".join(
            f"<td {column.attrs['td'].as_html()}>{_cell_html(column, cell)}</td>"
            for column, cell in row.items()
        )
        rows.append(f"<tr {row.attrs.as_html()}>{cells}</tr>")
    return mark_safe("\n".join(rows))


def _cell_html(column, cell):
    if column.localize is not None:
        cell = localize(cell) if column.localize else unlocalize(cell)
    return conditional_escape(cell)
