"""Plotly figures from selector output (graph_objects only: plotly.express needs numpy).

Figures go to the page as JSON (`figure_json`) and static/js/hepwatch.js draws them with the
vendored plotly.js, so pages carry no inline script and need no internet.
"""

from datetime import timedelta

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from . import units

ALT_COLOUR = "#1f5fa8"
AST_COLOUR = "#7a4fb0"
TBIL_COLOUR = "#b5651d"
DOSE_COLOUR = "#2e7d5b"
WITHHELD_FILL = "rgba(214, 92, 38, 0.12)"
DISCONTINUED_FILL = "rgba(140, 20, 30, 0.12)"
THRESHOLDS = ((1, "1× ULN", "#8a96a3"), (3, "3× withhold", "#d65c26"), (5, "5× severe", "#b3261e"))
FONT = dict(family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", size=12)


def _f(value):
    return float(value) if value is not None else None


def _hover_rows(timeline, analyte):
    xs, ys, text = [], [], []
    for row in timeline.draws:
        r = row.results.get(analyte)
        if r is None or r.multiple is None:
            continue
        res = r.result
        xs.append(row.draw.collected_at)
        ys.append(_f(r.multiple))
        canonical = units.ANALYTES[analyte].canonical_unit
        entered = f"{units.format_number(res.value)} {units.unit_label(res.unit)}"
        if res.unit != canonical:
            entered += f" = {units.format_number(res.exact_value())} {canonical}"
        grade = "" if r.grade is None else f"<br>CTCAE grade {r.grade}"
        text.append(
            f"<b>{analyte}</b> {entered}<br>ULN {units.format_number(res.exact_uln())} {canonical}"
            f" ({res.get_uln_source_display().lower()})<br>"
            f"<b>{units.format_multiple(r.multiple)} ULN</b>{grade}<br>"
            f"{row.draw.collected_at:%Y-%m-%d %H:%M} UTC"
        )
    return xs, ys, text


def _withheld_periods(timeline):
    """(start, end or None) of each episode, and from the discontinuation on."""
    periods = [(e.start_at, e.end_at) for e in timeline.assessment.episodes]
    if timeline.assessment.discontinued_at:
        periods.append((timeline.assessment.discontinued_at, None))
    return periods


def liver_chart(timeline, *, focus=None, focus_days=42):
    """ALT/AST ×ULN with 1×/3×/5× lines, doses sized by mg, withheld periods shaded, reduced-dose
    re-starts marked, and bilirubin ×ULN below, on one time axis. `focus`: a moment to centre on.
    """
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.62, 0.12, 0.26],
        vertical_spacing=0.05,
    )
    ymax = 6.0
    for analyte, colour in (("ALT", ALT_COLOUR), ("AST", AST_COLOUR)):
        xs, ys, text = _hover_rows(timeline, analyte)
        ymax = max([ymax, *[y + 0.8 for y in ys]])
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                name=f"{analyte} ×ULN",
                mode="lines+markers",
                line=dict(color=colour, width=2),
                marker=dict(size=7),
                hovertext=text,
                hoverinfo="text",
            ),
            row=1,
            col=1,
        )
    for level, label, colour in THRESHOLDS:
        fig.add_hline(
            y=level,
            line=dict(color=colour, width=1, dash="dash"),
            annotation_text=label,
            annotation_position="top left",
            annotation_font=dict(color=colour, size=11),
            row=1,
            col=1,
        )

    doses = timeline.doses
    if doses:
        top = max(float(d.dose_mg) for d in doses) or 1
        withheld = _withheld_periods(timeline)
        for inside, name, colour, symbol in (
            (False, "Dose (mg)", DOSE_COLOUR, "diamond"),
            (True, "Dose while withheld", "#b3261e", "x"),
        ):
            group = [
                d
                for d in doses
                if any(
                    s < d.administered_at and (e is None or d.administered_at < e)
                    for s, e in withheld
                )
                == inside
            ]
            if not group:
                continue
            fig.add_trace(
                go.Scatter(
                    x=[d.administered_at for d in group],
                    y=[0] * len(group),
                    name=name,
                    mode="markers",
                    marker=dict(
                        size=[6 + 12 * float(d.dose_mg) / top for d in group],
                        color=colour,
                        symbol=symbol,
                        line=dict(width=0),
                    ),
                    hovertext=[
                        f"<b>Dose {units.format_number(d.dose_mg)} mg</b><br>"
                        f"{d.administered_at:%Y-%m-%d %H:%M} UTC"
                        + (f"<br>Override: {d.override_reason}" if d.override_reason else "")
                        for d in group
                    ],
                    hoverinfo="text",
                ),
                row=2,
                col=1,
            )
    for dose in timeline.reduced_restarts:
        for row in (1, 2, 3):
            fig.add_vline(
                x=dose.administered_at.timestamp() * 1000,
                line=dict(color=DOSE_COLOUR, width=1.5, dash="dot"),
                row=row,
                col=1,
                **(
                    dict(
                        annotation_text=f"re-start {units.format_number(dose.dose_mg)} mg",
                        annotation_position="top right",
                        annotation_font=dict(color=DOSE_COLOUR, size=11),
                    )
                    if row == 1
                    else {}
                ),
            )

    xs, ys, text = _hover_rows(timeline, "TBIL")
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            name="Bilirubin ×ULN",
            mode="lines+markers",
            line=dict(color=TBIL_COLOUR, width=2),
            marker=dict(size=6),
            hovertext=text,
            hoverinfo="text",
        ),
        row=3,
        col=1,
    )
    tbil_max = max([2.6, *[y + 0.4 for y in ys]])
    fig.add_hline(y=1, line=dict(color="#8a96a3", width=1, dash="dash"), row=3, col=1)
    fig.add_hline(
        y=2,
        line=dict(color="#b3261e", width=1, dash="dash"),
        annotation_text="2× (Hy's law)",
        annotation_position="top left",
        annotation_font=dict(color="#b3261e", size=11),
        row=3,
        col=1,
    )

    # An ongoing period runs to the right edge: a week past now, or the end of the focus window.
    end = (focus + timedelta(days=focus_days)) if focus else timeline.now + timedelta(days=7)
    end = max(end, timeline.now)
    periods = [
        (
            e.start_at,
            e.end_at or end,
            "withheld" + ("" if e.end_at else " (ongoing)"),
            WITHHELD_FILL,
        )
        for e in timeline.assessment.episodes
    ]
    if timeline.assessment.discontinued_at:
        periods.append(
            (timeline.assessment.discontinued_at, end, "discontinued", DISCONTINUED_FILL)
        )
    for start, stop, label, fill in periods:
        for row in (1, 2, 3):
            fig.add_vrect(
                x0=start,
                x1=stop,
                fillcolor=fill,
                line_width=0,
                layer="below",
                row=row,
                col=1,
                **(
                    dict(
                        annotation_text=label,
                        annotation_position="top left",
                        annotation_font=dict(color="#8c2f10", size=11),
                    )
                    if row == 1
                    else {}
                ),
            )

    fig.update_yaxes(title_text="× ULN", range=[0, ymax], row=1, col=1, rangemode="tozero")
    fig.update_yaxes(
        title_text="Dose", showticklabels=False, range=[-1, 1], row=2, col=1, showgrid=False
    )
    fig.update_yaxes(title_text="TBIL × ULN", range=[0, tbil_max], row=3, col=1)
    if focus is not None:
        fig.add_vline(
            x=focus.timestamp() * 1000,
            line=dict(color="#1d2b3a", width=1),
            annotation_text="this alert",
            annotation_position="bottom right",
            annotation_font=dict(color="#1d2b3a", size=11),
            row=1,
            col=1,
        )
        window = timedelta(days=focus_days)
        fig.update_xaxes(range=[focus - window, focus + window])
    _layout(fig, height=520)
    return fig


def lipid_chart(timeline):
    """LDL-C and ApoB percent change from baseline (latest value on or before the first dose)."""
    fig = go.Figure()
    for analyte, colour, name in (("LDLC", ALT_COLOUR, "LDL-C"), ("APOB", AST_COLOUR, "ApoB")):
        changes = timeline.lipid_changes(analyte)
        if not changes:
            continue
        unit = units.ANALYTES[analyte].canonical_unit
        fig.add_trace(
            go.Scatter(
                x=[c[0] for c in changes],
                y=[float(c[1]) for c in changes],
                name=f"{name} % change",
                mode="lines+markers",
                line=dict(color=colour, width=2),
                hovertext=[
                    f"<b>{name}</b> {units.format_number(c[2])} {unit}<br>"
                    f"{float(c[1]):+.1f}% from baseline<br>{c[0]:%Y-%m-%d %H:%M} UTC"
                    for c in changes
                ],
                hoverinfo="text",
            )
        )
    fig.add_hline(y=0, line=dict(color="#8a96a3", width=1))
    fig.update_yaxes(title_text="% change from baseline", ticksuffix="%")
    _layout(fig, height=260)
    return fig


def _layout(fig, height):
    fig.update_layout(
        height=height,
        margin=dict(l=60, r=20, t=30, b=40),
        font=FONT,
        plot_bgcolor="white",
        paper_bgcolor="white",
        hovermode="closest",
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
    )
    fig.update_xaxes(showgrid=True, gridcolor="#eef1f4", linecolor="#c9d1d9")
    fig.update_yaxes(showgrid=True, gridcolor="#eef1f4", linecolor="#c9d1d9", zeroline=False)


def figure_json(fig) -> str:
    """The figure as JSON safe to place inside <script type="application/json">."""
    text = fig.to_json()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def has_data(fig) -> bool:
    return any(len(trace.x or ()) for trace in fig.data)
