"""Plotly figures from selector output, built as plain dicts (no graph_objects: a dict is all
plotly.js needs, and building one costs nothing).

Figures go to the page as JSON (`figure_json`) and static/js/hepwatch.js draws them with the
vendored plotly.js, so pages carry no inline script and need no internet.
"""

import json
from datetime import UTC, timedelta
from functools import lru_cache

from monitoring import ctcae, units
from monitoring.models import LabResult, exact_multiple
from monitoring.presentation import (
    ALT_COLOUR,
    ANALYTE_LABELS,
    AST_COLOUR,
    DISCONTINUED_FILL,
    DOSE_COLOUR,
    TBIL_COLOUR,
    THRESHOLDS,
    WITHHELD_FILL,
)

FONT = dict(family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", size=12)


def _f(value):
    return float(value) if value is not None else None


ULN_SOURCE_LABELS = {key: label.lower() for key, label in LabResult.ULN_SOURCES}


def _hover_rows(timeline, analyte):
    xs, ys, text = [], [], []
    for row in timeline.draws:
        r = row.results.get(analyte)
        if r is None or r.multiple is None:
            continue
        res = r.result
        xs.append(row.draw.collected_at)
        ys.append(_f(r.multiple))
        text.append(
            _hover_result(analyte, res.value, res.reported_uln, res.uln, res.unit, res.uln_source)
            + f"{row.draw.collected_at:%Y-%m-%d %H:%M} UTC"
        )
    return xs, ys, text


# As the lab table's cells (templatetags.hepwatch.result_cell): a subject's values and ULNs
# repeat from draw to draw, so equal results keep their words (format_number shows 1.0 and 1.00
# alike).
@lru_cache(maxsize=8192)
def _hover_result(analyte, value, reported_uln, uln, unit, uln_source):
    """A point's hover text but its time: the value as entered, the ULN, ×ULN and grade."""
    canonical = units.ANALYTES[analyte].canonical_unit
    multiple = exact_multiple(analyte, value, unit, reported_uln, uln)
    entered = f"{units.format_number(value)} {units.unit_label(unit)}"
    if unit != canonical:
        entered += f" = {units.format_number(units.to_canonical(analyte, value, unit))} {canonical}"
    grade = ctcae.grade(analyte, multiple)
    grade = "" if grade is None else f"<br>CTCAE grade {grade}"
    return (
        f"<b>{analyte}</b> {entered}<br>ULN "
        f"{units.format_number(units.exact_uln(analyte, unit, reported_uln, uln))} {canonical}"
        f" ({ULN_SOURCE_LABELS.get(uln_source, uln_source)})<br>"
        f"<b>{units.format_multiple(multiple)} ULN</b>{grade}<br>"
    )


def _doses_while_withheld(timeline):
    """Keys of the doses the rules found given while withheld or after discontinuation (R9)."""
    return {f.dose_key for f in timeline.assessment.findings if f.kind == "dose_while_withheld"}


# The liver chart's three rows share one time axis: ALT/AST ×ULN, doses, bilirubin ×ULN.
Y_DOMAINS = {"yaxis": [0.442, 1.0], "yaxis2": [0.284, 0.392], "yaxis3": [0.0, 0.234]}


def _time(moment):
    """A moment as plotly.js reads it on a date axis: UTC, no offset (times are UTC here)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _scatter(xs, ys, name, colour, text, *, yaxis="y", size=7, mode="lines+markers"):
    return {
        "type": "scatter",
        "x": [_time(x) for x in xs],
        "y": ys,
        "name": name,
        "mode": mode,
        "xaxis": "x",
        "yaxis": yaxis,
        "line": {"color": colour, "width": 2},
        "marker": {"size": size, "color": colour},
        "hovertext": text,
        "hoverinfo": "text",
    }


def _hline(y, colour, yref, label=None):
    shape = {
        "type": "line",
        "xref": "paper",
        "x0": 0,
        "x1": 1,
        "yref": yref,
        "y0": y,
        "y1": y,
        "line": {"color": colour, "width": 1, "dash": "dash"},
    }
    note = label and _label(0, y, label, colour, xref="paper", yref=yref)
    return shape, note


def _vline(at, line):
    """A vertical line across all three rows at moment `at`."""
    return {
        "type": "line",
        "xref": "x",
        "x0": at,
        "x1": at,
        "yref": "paper",
        "y0": 0,
        "y1": 1,
        "line": line,
    }


def _label(x, y, text, colour, *, xref="x", yref="paper", shift=0, anchor="left"):
    return {
        "x": x,
        "y": y,
        "xref": xref,
        "yref": yref,
        "text": text,
        "showarrow": False,
        "xanchor": anchor,
        "yanchor": "bottom",
        "yshift": shift,
        "font": {"color": colour, "size": 11},
    }


def liver_chart(timeline, *, focus=None, focus_days=42):
    """ALT/AST ×ULN with 1×/3×/5× lines, doses sized by mg, withheld periods shaded, reduced-dose
    re-starts marked, and bilirubin ×ULN below, on one time axis. `focus`: a moment to centre on.

    Built as the plain figure dictionary plotly.js reads: graph_objects' validation cost more
    than the rest of the page together.
    """
    data, shapes, notes = [], [], []
    ymax = 6.0
    for analyte, colour in (("ALT", ALT_COLOUR), ("AST", AST_COLOUR)):
        xs, ys, text = _hover_rows(timeline, analyte)
        ymax = max([ymax, *[y + 0.8 for y in ys]])
        data.append(_scatter(xs, ys, f"{analyte} ×ULN", colour, text))
    for level, label, colour in THRESHOLDS:
        shape, note = _hline(level, colour, "y", label)
        shapes.append(shape)
        notes.append(note)

    doses = timeline.doses
    if doses:
        top = max(float(d.dose_mg) for d in doses) or 1
        withheld = _doses_while_withheld(timeline)
        for inside, name, colour, symbol in (
            (False, "Dose (mg)", DOSE_COLOUR, "diamond"),
            (True, "Dose while withheld", "#b3261e", "x"),
        ):
            group = [d for d in doses if (d.pk in withheld) == inside]
            if not group:
                continue
            trace = _scatter(
                [d.administered_at for d in group],
                [0] * len(group),
                name,
                colour,
                [
                    f"<b>Dose {units.format_number(d.dose_mg)} mg</b><br>"
                    f"{d.administered_at:%Y-%m-%d %H:%M} UTC"
                    + (f"<br>{d.given_despite}" if d.given_despite else "")
                    for d in group
                ],
                yaxis="y2",
                mode="markers",
            )
            trace["marker"] = {
                "size": [6 + 12 * float(d.dose_mg) / top for d in group],
                "color": colour,
                "symbol": symbol,
                "line": {"width": 0},
            }
            data.append(trace)
    for decision in timeline.reduced_restarts:
        at = _time(decision.signed_at)
        shapes.append(_vline(at, {"color": DOSE_COLOUR, "width": 1.5, "dash": "dot"}))
        notes.append(
            _label(at, 1, f"re-start: {timeline.regimen_name(decision.regimen)}", DOSE_COLOUR)
        )

    xs, ys, text = _hover_rows(timeline, "TBIL")
    data.append(_scatter(xs, ys, "Bilirubin ×ULN", TBIL_COLOUR, text, yaxis="y3", size=6))
    tbil_max = max([2.6, *[y + 0.4 for y in ys]])
    shapes.append(_hline(1, "#8a96a3", "y3")[0])
    shape, note = _hline(2, "#b3261e", "y3", "2× (Hy's law)")
    shapes.append(shape)
    notes.append(note)

    # An ongoing period runs to the right edge: a week past now, or the end of the focus window.
    end = (focus + timedelta(days=focus_days)) if focus else timeline.now + timedelta(days=7)
    end = max(end, timeline.now)
    periods = [
        (
            w.start,
            w.end or end,
            "withheld" + ("" if w.end else " (ongoing)"),
            WITHHELD_FILL,
        )
        for w in timeline.assessment.withholdings
    ]
    if timeline.assessment.discontinued_at:
        periods.append(
            (timeline.assessment.discontinued_at, end, "discontinued", DISCONTINUED_FILL)
        )
    labelled = {}
    for start, stop, label, fill in periods:
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "x0": _time(start),
                "x1": _time(stop),
                "yref": "paper",
                "y0": 0,
                "y1": 1,
                "fillcolor": fill,
                "line": {"width": 0},
                "layer": "below",
            }
        )
        # Labels of periods that start together are stacked, not printed over each other.
        shift = -14 * labelled.get(start, 0)
        labelled[start] = labelled.get(start, 0) + 1
        notes.append(_label(_time(start), 1, label, "#8c2f10", shift=shift - 14))

    xaxis = {"type": "date", "anchor": "y3", "showgrid": True, "gridcolor": GRID, "linecolor": LINE}
    if focus is not None:
        at = _time(focus)
        shapes.append(_vline(at, {"color": "#1d2b3a", "width": 1}))
        notes.append(_label(at, 0, "this alert", "#1d2b3a"))
        window = timedelta(days=focus_days)
        xaxis["range"] = [_time(focus - window), _time(focus + window)]
    layout = _layout(height=520)
    layout.update(
        xaxis=xaxis,
        yaxis=_yaxis("× ULN", "yaxis", range=[0, ymax]),
        yaxis2=_yaxis("Dose", "yaxis2", range=[-1, 1], showticklabels=False, showgrid=False),
        yaxis3=_yaxis("TBIL × ULN", "yaxis3", range=[0, tbil_max]),
        shapes=shapes,
        annotations=[n for n in notes if n],
    )
    return {"data": data, "layout": layout}


def lipid_chart(timeline):
    """LDL-C and ApoB percent change from baseline (latest value on or before the first dose)."""
    data = []
    for analyte, colour in (("LDLC", ALT_COLOUR), ("APOB", AST_COLOUR)):
        name = ANALYTE_LABELS[analyte]
        changes = timeline.lipid_changes(analyte)
        if not changes:
            continue
        unit = units.ANALYTES[analyte].canonical_unit
        data.append(
            _scatter(
                [c[0] for c in changes],
                [float(c[1]) for c in changes],
                f"{name} % change",
                colour,
                [
                    f"<b>{name}</b> {units.format_number(c[2])} {unit}<br>"
                    f"{float(c[1]):+.1f}% from baseline<br>{c[0]:%Y-%m-%d %H:%M} UTC"
                    for c in changes
                ],
            )
        )
    layout = _layout(height=260)
    layout.update(
        xaxis={"type": "date", "showgrid": True, "gridcolor": GRID, "linecolor": LINE},
        yaxis={
            "title": {"text": "% change from baseline"},
            "ticksuffix": "%",
            "showgrid": True,
            "gridcolor": GRID,
            "linecolor": LINE,
            "zeroline": False,
        },
        shapes=[_hline(0, "#8a96a3", "y")[0]],
    )
    return {"data": data, "layout": layout}


GRID, LINE = "#eef1f4", "#c9d1d9"


def _yaxis(title, name, **extra):
    return {
        "title": {"text": title},
        "domain": Y_DOMAINS[name],
        "anchor": "x",
        "showgrid": True,
        "gridcolor": GRID,
        "linecolor": LINE,
        "zeroline": False,
        **extra,
    }


def _layout(height):
    return {
        "height": height,
        "margin": {"l": 60, "r": 20, "t": 30, "b": 40},
        "font": FONT,
        "plot_bgcolor": "white",
        "paper_bgcolor": "white",
        "hovermode": "closest",
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
    }


def figure_json(fig) -> str:
    """The figure (a plotly Figure or its plain dictionary) as JSON safe to place inside
    <script type="application/json">."""
    text = json.dumps(fig) if isinstance(fig, dict) else fig.to_json()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
