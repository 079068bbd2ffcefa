"""What each chart shows, in words and as a table (issue 17, WCAG 1.1.1): the summary is what
the chart's aria-describedby points to, and the table holds the points the chart draws, so a
screen reader or a keyboard reaches the same data as the mouse does."""

from dataclasses import dataclass, field
from datetime import UTC, timedelta

from monitoring import units


@dataclass
class ChartText:
    summary: list  # sentences
    columns: list  # the table's column headings
    rows: list = field(default_factory=list)  # one list of cell texts per row, oldest first


def _day(moment):
    return f"{moment.astimezone(UTC):%Y-%m-%d}"


def _when(moment):
    """In UTC, as the chart's axis and its hover texts are; said, beside pages in a site's clock."""
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _times(multiple):
    return f"{units.format_multiple(multiple)} ULN"


def _list(parts):
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _transaminase_peak(row):
    """(×ULN, analyte) of the higher of the draw's ALT and AST, or None."""
    found = [
        (row.results[a].multiple, a)
        for a in ("ALT", "AST")
        if a in row.results and row.results[a].multiple is not None
    ]
    return max(found) if found else None


def _periods(timeline, end):
    assessment = timeline.assessment
    periods = [(w.start, w.end, "withheld") for w in assessment.withholdings]
    if assessment.discontinued_at:
        periods.append((assessment.discontinued_at, None, "discontinued"))
    return [(start, stop or end, stop is None, label) for start, stop, label in periods]


def states_along(periods, moments):
    """The labels of the periods each of these moments (ascending) falls in, joined, in one
    sweep: a table of 500 rows against 50 withheld periods is not 25,000 comparisons."""
    by_start = sorted(range(len(periods)), key=lambda i: periods[i][0])
    started, taken, states = [], 0, []
    for moment in moments:
        while taken < len(by_start) and periods[by_start[taken]][0] <= moment:
            started.append(by_start[taken])
            taken += 1
        started = [i for i in started if moment < periods[i][1]]
        states.append(", ".join(periods[i][3] for i in sorted(started)))
    return states


def liver(timeline, *, focus=None, focus_days=42):
    """The liver chart in words: latest and highest ALT/AST and bilirubin ×ULN, the withheld
    periods, the doses and re-starts; with `focus`, only the window the chart opens on."""
    window = timedelta(days=focus_days)
    start = focus - window if focus else None
    end = focus + window if focus else None

    def shown(moment):
        return start is None or start <= moment <= end

    draws = [row for row in timeline.draws if shown(row.draw.collected_at)]
    doses = [dose for dose in timeline.doses if shown(dose.administered_at)]
    # An ongoing period lasts until now and beyond (as charts.liver_chart shades it).
    periods = _periods(timeline, max(end or timeline.now, timeline.now) + timedelta(days=7))
    while_withheld = {
        f.dose_key for f in timeline.assessment.findings if f.kind == "dose_while_withheld"
    }
    summary = []
    if focus:
        summary.append(
            f"From {_day(start)} to {_day(end)}, {focus_days // 7} weeks either side of this "
            f"alert ({_when(focus)})."
        )
    peaks = [(p, row) for row in draws if (p := _transaminase_peak(row))]
    if peaks:
        (latest, analyte), row = peaks[-1]
        (top, top_analyte), top_row = max(peaks, key=lambda item: item[0][0])
        summary.append(
            f"Latest ALT/AST: {_times(latest)} ({analyte}) on {_day(row.draw.collected_at)}; "
            f"highest: {_times(top)} ({top_analyte}) on {_day(top_row.draw.collected_at)}."
        )
    else:
        summary.append("No ALT or AST result.")
    tbil = [(row.results["TBIL"].multiple, row) for row in draws if _multiple(row, "TBIL")]
    if tbil:
        top, top_row = max(tbil, key=lambda item: item[0])
        summary.append(
            f"Bilirubin: latest {_times(tbil[-1][0])}, highest {_times(top)} on "
            f"{_day(top_row.draw.collected_at)}."
        )
    spans = [
        f"from {_day(s)} (ongoing)" if ongoing else f"from {_day(s)} to {_day(e)}"
        for s, e, ongoing, label in periods
        if label == "withheld" and (start is None or (s <= end and e >= start))
    ]
    discontinued = timeline.assessment.discontinued_at
    if spans:
        summary.append(f"Dosing withheld {_list(spans)}.")
    elif not discontinued:
        summary.append("Dosing never withheld.")
    if discontinued:
        summary.append(f"Treatment discontinued on {_day(discontinued)}.")
    for decision in timeline.reduced_restarts:
        if shown(decision.signed_at):
            target = decision.regimen.name if timeline.sees_arm else "a reduced dose (Blinded)"
            summary.append(f"Re-started at {target} on {_day(decision.signed_at)}.")
    if doses:
        amounts = sorted({units.format_number(d.dose_mg) for d in doses}, key=float)
        wrong = sum(1 for d in doses if d.pk in while_withheld)
        summary.append(
            f"{len(doses)} dose{'s' if len(doses) != 1 else ''} from "
            f"{_day(doses[0].administered_at)} to {_day(doses[-1].administered_at)} "
            f"({_list([a + ' mg' for a in amounts])})"
            + (f"; {wrong} given while withheld." if wrong else ".")
        )
    else:
        summary.append("No doses.")

    events = [(row.draw.collected_at, 0, row) for row in draws]
    events += [(dose.administered_at, 1, dose) for dose in doses]
    rows = []
    events.sort(key=lambda e: (e[0], e[1]))
    states = states_along(periods, [moment for moment, _, _ in events])
    for (moment, is_dose, item), state in zip(events, states, strict=True):
        if is_dose:
            given = f"{units.format_number(item.dose_mg)} mg"
            if item.pk in while_withheld:
                given += " (while withheld)"
            cells = ["", "", "", given]
        else:
            cells = [_shown_multiple(item, a) for a in ("ALT", "AST", "TBIL")] + [""]
        rows.append([_when(moment), *cells, state or "dosing"])
    return ChartText(
        summary,
        ["Time (UTC)", "ALT × ULN", "AST × ULN", "Bilirubin × ULN", "Dose", "Dosing"],
        rows,
    )


def _multiple(row, analyte):
    r = row.results.get(analyte)
    return r is not None and r.multiple is not None


def _shown_multiple(row, analyte):
    return units.format_multiple(row.results[analyte].multiple) if _multiple(row, analyte) else ""


def lipids(timeline):
    """The lipid chart in words: each analyte's latest percent change from baseline."""
    summary, by_time = [], {}
    for analyte, name in (("LDLC", "LDL-C"), ("APOB", "ApoB")):
        changes = timeline.lipid_changes(analyte)
        for at, change, value in changes:
            by_time.setdefault(at, {})[analyte] = f"{float(change):+.1f}% ({_mg(value)})"
        latest = timeline.latest_lipid_change(analyte) if analyte in timeline.baseline else None
        if latest:
            at, change, value = latest
            summary.append(
                f"{name}: {float(change):+.1f}% from baseline ({_mg(value)}) on {_day(at)}."
            )
    rows = [
        [_when(at), cells.get("LDLC", ""), cells.get("APOB", "")]
        for at, cells in sorted(by_time.items())
    ]
    return ChartText(
        summary or ["No value after baseline."],
        ["Time (UTC)", "LDL-C from baseline", "ApoB from baseline"],
        rows,
    )


def _mg(value):
    return f"{units.format_number(round(value, 1))} mg/dL"
