"""{% liver_text timeline as text %} and {% lipid_text timeline as text %}: the charts in words
and as tables (monitoring/reports/chart_text.py), for templates/monitoring/_chart.html."""

from django import template

from monitoring.reports import chart_text

register = template.Library()


@register.simple_tag
def liver_text(timeline, focus=None):
    return chart_text.liver(timeline, focus=focus)


@register.simple_tag
def lipid_text(timeline):
    return chart_text.lipids(timeline)
