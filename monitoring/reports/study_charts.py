"""The study report's eDISH plot (plotly graph_objects; drawn in the page by static/js/hepwatch.js,
a click on a point opens the subject through static/js/study_report.js)."""

import math

import plotly.graph_objects as go

from monitoring import units
from monitoring.presentation import ARM_COLOURS, ARM_SYMBOLS
from monitoring.reports import analysis
from monitoring.reports.charts import FONT

FLOOR = 0.05  # log axes cannot show 0


def _x(value):
    return max(float(value), FLOOR)


def edish_figure(points, arms, url):
    """Peak ALT-or-AST ×ULN against peak TBIL ×ULN, log-log, one trace per arm."""
    fig = go.Figure()
    plotted = [p for p in points if p.tbil is not None]
    for i, arm in enumerate(arms):
        members = [p for p in plotted if p.subject.arm == arm]
        if not members:
            continue
        fig.add_trace(
            go.Scatter(
                x=[_x(p.transaminase.multiple) for p in members],
                y=[_x(p.tbil.multiple) for p in members],
                mode="markers",
                name=arm,
                marker=dict(
                    size=[13 if p.quadrant == analysis.HYS_LAW else 9 for p in members],
                    color=ARM_COLOURS[i % len(ARM_COLOURS)],
                    symbol=ARM_SYMBOLS[i % len(ARM_SYMBOLS)],
                    opacity=0.85,
                    line=dict(width=1, color="white"),
                ),
                customdata=[url(p.subject.key) for p in members],
                hovertext=[_hover(p) for p in members],
                hoverinfo="text",
            )
        )
    xs = [_x(p.transaminase.multiple) for p in plotted] or [1]
    ys = [_x(p.tbil.multiple) for p in plotted] or [1]
    x_range = [math.log10(0.1), math.log10(max(30, max(xs) * 1.5))]
    y_range = [math.log10(0.1), math.log10(max(10, max(ys) * 1.5))]
    # The potential Hy's law quadrant, tinted.
    fig.add_shape(
        type="rect",
        x0=3,
        x1=10 ** x_range[1],
        y0=2,
        y1=10 ** y_range[1],
        fillcolor="rgba(179, 38, 30, 0.07)",
        line_width=0,
        layer="below",
    )
    fig.add_vline(x=3, line=dict(color="#d65c26", width=1.2, dash="dash"))
    fig.add_hline(y=2, line=dict(color="#b3261e", width=1.2, dash="dash"))
    corners = (
        (10 ** x_range[1], 10 ** y_range[1], "right", "top", "Potential Hy's law", "#8c141e"),
        (10 ** x_range[1], 10 ** y_range[0], "right", "bottom", "Temple's corollary", "#8c2f10"),
        (10 ** x_range[0], 10 ** y_range[1], "left", "top", "Hyperbilirubinaemia", "#5b6b7b"),
        (10 ** x_range[0], 10 ** y_range[0], "left", "bottom", "Normal range", "#5b6b7b"),
    )
    for x, y, xanchor, yanchor, text, colour in corners:
        fig.add_annotation(
            x=math.log10(x),
            y=math.log10(y),
            text=f"<b>{text}</b>",
            showarrow=False,
            xanchor=xanchor,
            yanchor=yanchor,
            font=dict(color=colour, size=12),
            xshift=-6 if xanchor == "right" else 6,
            yshift=-4 if yanchor == "top" else 4,
        )
    ticks = [0.1, 0.2, 0.5, 1, 2, 3, 5, 10, 20, 50, 100]
    fig.update_xaxes(
        type="log",
        range=x_range,
        title_text="Peak ALT or AST (× ULN)",
        tickvals=ticks,
        ticktext=[f"{t:g}×" for t in ticks],
    )
    fig.update_yaxes(
        type="log",
        range=y_range,
        title_text="Peak total bilirubin (× ULN)",
        tickvals=ticks,
        ticktext=[f"{t:g}×" for t in ticks],
    )
    fig.update_layout(
        height=480,
        margin=dict(l=70, r=20, t=30, b=50),
        font=FONT,
        plot_bgcolor="white",
        paper_bgcolor="white",
        hovermode="closest",
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0, title_text="Arm: "),
    )
    fig.update_xaxes(showgrid=True, gridcolor="#eef1f4", linecolor="#c9d1d9", zeroline=False)
    fig.update_yaxes(showgrid=True, gridcolor="#eef1f4", linecolor="#c9d1d9", zeroline=False)
    return fig


def _hover(point):
    t, b = point.transaminase, point.tbil
    lines = [
        f"<b>{point.subject.subject_id}</b> · {point.subject.arm}",
        f"Peak {t.analyte} {units.format_multiple(t.multiple)} ULN on {t.at:%Y-%m-%d}",
        f"Peak TBIL {units.format_multiple(b.multiple)} ULN on {b.at:%Y-%m-%d}",
        analysis.QUADRANTS[point.quadrant],
    ]
    if point.r_ratio is not None:
        lines.append(f"R = {float(point.r_ratio):.1f} ({point.pattern or 'no liver injury'})")
    lines.append("Click to open the subject")
    return "<br>".join(lines)
