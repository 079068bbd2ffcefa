"""Template helpers of the reports, exports and web import (issue 4)."""

from django import template
from django.utils.safestring import mark_safe

from subjects import access

register = template.Library()


@register.filter
def css_string(value):
    """Text safe inside a double-quoted CSS string (the PDF's page headers): quotes, backslashes,
    line breaks and angle brackets become CSS escapes."""
    out = []
    for char in str(value):
        if char in '\\"<>\n\r' or ord(char) < 32:
            out.append(f"\\{ord(char):x} ")
        else:
            out.append(char)
    return mark_safe("".join(out))  # noqa: S308 - every character that could end the string is escaped


@register.filter
def can_see_reports(user):
    return access.can_see_study(user)


@register.filter
def can_import_labs(user):
    return access.can_import_labs(user)


@register.filter
def pct(value, places=1):
    """A proportion (0.25) as a percentage (25.0%)."""
    if value is None:
        return "—"
    return f"{float(value) * 100:.{int(places)}f}%"


@register.filter
def signed_pct(value, places=1):
    """A percentage already in % (−28.3) with its sign; a proper minus sign for readers."""
    if value is None:
        return "—"
    return f"{float(value):+.{int(places)}f}%".replace("-", "−")


@register.filter
def signed_points(value, places=1):
    """A difference of proportions (−0.05) in percentage points."""
    if value is None:
        return "—"
    return f"{float(value) * 100:+.{int(places)}f}".replace("-", "−")


@register.filter
def weeks(days):
    """Days after the first dose as a week number with one decimal (141.7 -> 20.2)."""
    if days is None:
        return "—"
    return f"{float(days) / 7:.1f}"
