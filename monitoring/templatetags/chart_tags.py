"""{% liver_text timeline as text %} and {% lipid_text timeline as text %}: the charts in words
and as tables (monitoring/reports/chart_text.py), for templates/monitoring/_chart.html, which
writes the table's rows with {% chart_rows text %}."""

from django import template
from django.utils.html import format_html_join

from monitoring.reports import chart_text

register = template.Library()


@register.simple_tag
def liver_text(timeline, focus=None):
    return chart_text.liver(timeline, focus=focus)


@register.simple_tag
def lipid_text(timeline):
    return chart_text.lipids(timeline)


@register.simple_tag
def chart_rows(text):
    """The <tr>s of a chart's data table: the first cell a row heading, an empty cell a dash.
    One format_html per row, its cells escaped by it, not a template fragment or a format_html
    per cell: the liver chart of a subject with 300 draws has 2,400 cells."""
    row = ROW_HEADING + CELL * (len(text.columns) - 1) + "</tr>"
    return format_html_join(
        "\n", row, ((first, *(cell or "—" for cell in rest)) for first, *rest in text.rows)
    )


ROW_HEADING = '<tr><th scope="row" class="fw-normal text-nowrap">{}</th>'
CELL = "<td>{}</td>"
