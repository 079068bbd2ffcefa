"""How things look, defined once: the label, icon and colour of each severity, safety state,
alert status and analyte, and the badges built from them. The template tags, the tables, the
charts and the reports all read this table."""

from django.utils.html import format_html

from monitoring import rules, units
from monitoring.models import STATE_CHOICES

SEVERITY_STYLE = {
    "critical": ("bi-exclamation-octagon-fill", "Critical"),
    "high": ("bi-exclamation-triangle-fill", "High"),
    "medium": ("bi-exclamation-circle-fill", "Medium"),
    "low": ("bi-info-circle-fill", "Low"),
}
SEVERITY_BY_RANK = {rank: severity for severity, rank in rules.SEVERITY_ORDER.items()}
STATE_ICONS = {
    rules.DOSING: "bi-check-circle",
    rules.MONITORING: "bi-eye",
    rules.CLOSE_OBSERVATION: "bi-binoculars",
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
    "answered": "status-answered",
    "closed": "status-resolved",
}
ANALYTE_LABELS = {
    "ALT": "ALT",
    "AST": "AST",
    "ALP": "ALP",
    "TBIL": "TBIL",
    "LDLC": "LDL-C",
    "APOB": "ApoB",
    "INR": "INR",
    "EOS": "Eosinophils",
}

# Colours of the charts (plotly on the pages, SVG in the subject report).
ALT_COLOUR = "#1f5fa8"
AST_COLOUR = "#7a4fb0"
TBIL_COLOUR = "#b5651d"
DOSE_COLOUR = "#2e7d5b"
GRID = "#e3e8ee"
INK = "#1d2b3a"
MUTED = "#5b6b7b"
WITHHELD_FILL = "rgba(214, 92, 38, 0.12)"
DISCONTINUED_FILL = "rgba(140, 20, 30, 0.12)"
THRESHOLDS = ((1, "1× ULN", "#8a96a3"), (3, "3× withhold", "#d65c26"), (5, "5× severe", "#b3261e"))
ARM_COLOURS = ("#1f5fa8", "#d65c26", "#2e7d5b", "#7a4fb0")
ARM_SYMBOLS = ("circle", "diamond", "square", "triangle-up")


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


def status_badge(status, label=None):
    return format_html(
        '<span class="badge status-badge {}">{}</span>',
        STATUS_STYLE.get(status, ""),
        label or status.capitalize(),
    )


def multiple(value):
    """×ULN truncated to 2 decimals (never shows 3.00× for 2.999×)."""
    if value is None or value == "":
        return "—"
    return units.format_multiple(units.Fraction(value))
