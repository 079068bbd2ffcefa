"""The subject report's liver chart: its geometry, drawn by templates/reports/_liver_chart.svg."""

from datetime import UTC, datetime, timedelta

from django.template.loader import render_to_string

from monitoring.presentation import (
    ALT_COLOUR,
    AST_COLOUR,
    DOSE_COLOUR,
    GRID,
    INK,
    MUTED,
    TBIL_COLOUR,
)

WIDTH, HEIGHT = 720, 340
LEFT, RIGHT, TOP = 52, 16, 26
MAIN_H, DOSE_H, TBIL_H, GAP = 170, 22, 70, 10
LEGEND = (
    ("ALT ×ULN", ALT_COLOUR, ""),
    ("AST ×ULN", AST_COLOUR, "4 2"),
    ("Bilirubin ×ULN", TBIL_COLOUR, ""),
    ("Dose (height = mg)", DOSE_COLOUR, ""),
)


def _num(x):
    return f"{x:.1f}"


def liver_svg(timeline, periods) -> str:
    """ALT and AST ×ULN over time with 1×/3×/5× lines, withheld `periods` shaded, doses as
    ticks, and bilirubin ×ULN below, on one time axis."""
    return render_to_string("reports/_liver_chart.svg", liver_chart(timeline, periods)).strip()


def liver_chart(timeline, periods) -> dict:
    """The chart's shapes, their coordinates as the text the SVG holds."""
    main_top = TOP
    dose_top = main_top + MAIN_H + GAP
    tbil_top = dose_top + DOSE_H + GAP
    bottom = tbil_top + TBIL_H
    plot_w = WIDTH - LEFT - RIGHT
    chart = {"width": WIDTH, "height": HEIGHT, "muted": MUTED, "ink": INK, "grid_colour": GRID}

    series = {}
    for analyte in ("ALT", "AST", "TBIL"):
        series[analyte] = [
            (row.draw.collected_at, float(r.multiple))
            for row in timeline.draws
            if (r := row.results.get(analyte)) is not None and r.multiple is not None
        ]
    moments = [t for s in series.values() for t, _ in s] + [
        d.administered_at for d in timeline.doses
    ]
    if not moments:
        return {**chart, "empty": True, "middle": (WIDTH / 2, HEIGHT / 2)}
    start, end = min(moments), max(moments)
    span = max((end - start).total_seconds(), 86400 * 7)
    start -= timedelta(seconds=span * 0.03)
    end = start + timedelta(seconds=span * 1.06)
    total = (end - start).total_seconds()

    def x(moment):
        return LEFT + plot_w * (moment - start).total_seconds() / total

    ymax = max([6.0, *[v + 0.6 for _, v in series["ALT"] + series["AST"]]])
    tmax = max([2.6, *[v + 0.3 for _, v in series["TBIL"]]])

    def y_main(v):
        return main_top + MAIN_H * (1 - v / ymax)

    def y_tbil(v):
        return tbil_top + TBIL_H * (1 - v / tmax)

    # Withheld and discontinued periods, shaded across all panels.
    bands, labelled = [], []
    for period in periods:
        x0 = x(period.start)
        x1 = x(period.end) if period.end else LEFT + plot_w
        discontinued = "Discontinued" in period.what
        # Labels of periods that start close together go on separate lines.
        line = sum(1 for other in labelled if abs(other - x0) < 60)
        labelled.append(x0)
        bands.append(
            {
                "x": _num(x0),
                "width": _num(max(x1 - x0, 1.5)),
                "fill": "#8c141e" if period.end is None and discontinued else "#d65c26",
                "label": "discontinued" if discontinued else "withheld",
                "label_x": _num(x0 + 3),
                "label_y": main_top + 11 + 11 * line,
            }
        )

    step = 1 if ymax <= 8 else 2 if ymax <= 16 else 5
    grid = []
    v = 0
    while v <= ymax:
        grid.append({"y": _num(y_main(v)), "label_y": _num(y_main(v) + 3), "value": v})
        v += step
    tbil_ticks = [{"label_y": _num(y_tbil(v) + 3), "value": v} for v in (0, 1, 2) if v <= tmax]

    months = []
    tick = datetime(start.year, start.month, 1, tzinfo=UTC)
    while tick <= end:
        if tick >= start:
            months.append({"x": _num(x(tick)), "label": f"{tick:%b %Y}"})
        tick = datetime(tick.year + tick.month // 12, tick.month % 12 + 1, 1, tzinfo=UTC)

    thresholds = [
        (y_main(1), "#8a96a3", "1× ULN"),
        (y_main(3), "#d65c26", "3× withhold"),
        (y_main(5), "#b3261e", "5× severe"),
        (y_tbil(1), "#8a96a3", ""),
        (y_tbil(2), "#b3261e", "2× (Hy's law)"),
    ]

    lines = [
        _series(series["ALT"], x, y_main, ALT_COLOUR, "", square=False),
        _series(series["AST"], x, y_main, AST_COLOUR, "4 2", square=True),
        _series(series["TBIL"], x, y_tbil, TBIL_COLOUR, "", square=False),
    ]

    # Doses: ticks whose height shows the mg.
    doses = []
    if timeline.doses:
        top_mg = max(float(d.dose_mg) for d in timeline.doses) or 1
        for dose in timeline.doses:
            h = 4 + (DOSE_H - 6) * float(dose.dose_mg) / top_mg
            doses.append(
                {
                    "x": _num(x(dose.administered_at)),
                    "y1": _num(dose_top + DOSE_H - 1),
                    "y2": _num(dose_top + DOSE_H - 1 - h),
                }
            )

    legend, lx = [], LEFT
    for label, colour, dash in LEGEND:
        legend.append({"x": lx, "x2": lx + 18, "text_x": lx + 22, "colour": colour})
        legend[-1].update(dash=dash, label=label)
        lx += 28 + 6.2 * len(label)

    return {
        **chart,
        "empty": False,
        "left": LEFT,
        "plot_w": plot_w,
        "right_edge": LEFT + plot_w,
        "main_top": main_top,
        "bottom": bottom,
        "bands_height": bottom - main_top,
        "frames": [(main_top, MAIN_H), (dose_top, DOSE_H), (tbil_top, TBIL_H)],
        "bands": bands,
        "grid": grid,
        "tick_x": LEFT - 5,
        "tbil_ticks": tbil_ticks,
        "months": months,
        "month_y": bottom + 13,
        "thresholds": [
            {"y": _num(y), "label_y": _num(y - 2.5), "colour": colour, "label": label}
            for y, colour, label in thresholds
        ],
        "label_x": LEFT + plot_w - 3,
        "series": [s for s in lines if s],
        "doses": doses,
        "dose_colour": DOSE_COLOUR,
        "title_x": LEFT - 46,
        "main_title_y": _num(main_top + MAIN_H / 2),
        "dose_title_y": dose_top + 15,
        "tbil_title_y": _num(tbil_top + TBIL_H / 2),
        "legend": legend,
        "withheld_x": lx,
        "withheld_text_x": lx + 18,
    }


def _series(points, x, y, colour, dash, *, square):
    if not points:
        return None
    return {
        "points": " ".join(f"{_num(x(t))},{_num(y(v))}" for t, v in points),
        "colour": colour,
        "dash": dash,
        "square": square,
        "markers": [
            {
                "x": _num(x(t) - 2.6 if square else x(t)),
                "y": _num(y(v) - 2.6 if square else y(v)),
            }
            for t, v in points
        ],
    }
