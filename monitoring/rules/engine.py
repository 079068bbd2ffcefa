"""The engine: a subject's whole history and an evaluation time in, the findings (each with the
engine's own resolution and its case), the safety state and the regimen in force out, under
the study's rule set. Pure: no ORM, no clock, exact arithmetic. Read it beside DESIGN
sections 3 and 3b; the sets themselves are data in sets.py.

Longer than 400 lines on purpose: the rules share one timeline and one pass over the draws,
and a reader checking a rule against the table finds all of it, in the table's order, here."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cached_property

from ..units import BASELINE_ANALYTES, format_multiple, format_number
from .history import (
    ACKNOWLEDGE,
    CLOSE_OBSERVATION,
    DISCONTINUE,
    DISCONTINUED,
    DISMISS,
    DOSING,
    MONITORING,
    RESTART_PENDING,
    RESUME_REDUCED_DOSE,
    RESUMES,
    WITHHELD,
    WITHHOLD,
    Decision,
    Draw,
    Episode,
    Finding,
    History,
    Regimen,
    SafetyAssessment,
    Withholding,
    when,
)
from .sets import CONFIRMING, KINDS, OBSERVING, RULE_SETS, RuleSet

FAR = datetime.max.replace(tzinfo=UTC)


def rule_set_of(history: History, rule_set: RuleSet | None = None) -> RuleSet:
    return rule_set or RULE_SETS[history.rule_set]


def effective_decisions(decisions) -> tuple[Decision, ...]:
    """The decisions in force, in signing order: one that a later decision names as replaced
    leaves the history the engine sees (both stay on record)."""
    replaced = {d.replaces for d in decisions if d.replaces is not None}
    return tuple(
        sorted(
            (d for d in decisions if d.key not in replaced),
            key=lambda d: (d.signed_at, str(d.key)),
        )
    )


def peak_draws(draws):
    """(draw, multiple, result) of each draw with a peak, in collection order."""
    ordered = sorted(draws, key=lambda d: (d.collected_at, str(d.key)))
    return [(d, *p) for d in ordered if (p := d.peak()) is not None]


def find_episodes(peaks, rs: RuleSet) -> list[Episode]:
    """Episodes: from the first draw over the episode threshold while none is open to the
    first later draw that is not. Each with the time it started withholding, as its set says:
    at its first results (v2); at once at ≥ 5×, else at the confirming draw's results (label);
    never (FDA close observation)."""
    episodes, members = [], None
    for draw, multiple, _ in peaks:
        if members is None and rs.over(multiple, rs.episode_multiple):
            members = [(draw, multiple)]
        elif members is not None and rs.over(multiple, rs.episode_multiple):
            members.append((draw, multiple))
        elif members is not None:
            episodes.append(_episode(members, rs, draw))
            members = None
    if members is not None:
        episodes.append(_episode(members, rs, None))
    return episodes


def _episode(members, rs: RuleSet, end: Draw | None) -> Episode:
    start, start_multiple = members[0]
    withhold_start = None
    if rs.opens == CONFIRMING:
        if start_multiple >= rs.severe_multiple:
            withhold_start = start.known_at
        elif len(members) > 1:
            withhold_start = members[1][0].known_at
    elif rs.opens != OBSERVING:
        withhold_start = start.known_at
    return Episode(
        start.key,
        start.collected_at,
        withhold_start,
        end.key if end else None,
        end.collected_at if end else None,
        known_at=start.known_at,
    )


@dataclass(frozen=True)
class Timeline:
    """What the history says about withholding, discontinuation and regimens at any time."""

    episodes: tuple[Episode, ...]
    decisions: tuple[Decision, ...]
    discontinued_at: datetime | None
    discontinued_by: str
    start_regimen: Regimen | None

    @cached_property
    def withhold_starts(self) -> list[tuple[datetime, str]]:
        starts = [
            (e.withhold_start, f"the elevation of {when(e.start_at)}")
            for e in self.episodes
            if e.withhold_start is not None
        ]
        starts += [
            (d.signed_at, f"the withhold decision of {when(d.signed_at)}")
            for d in self.decisions
            if d.action == WITHHOLD
        ]
        return sorted(starts)

    @cached_property
    def resumes(self) -> list[Decision]:
        return [d for d in self.decisions if d.action in RESUMES]

    def discontinued(self, t: datetime) -> bool:
        """Discontinued at or before t."""
        return self.discontinued_at is not None and self.discontinued_at <= t

    def open_episode(self, t: datetime, *, withholding=True) -> Episode | None:
        """The episode open at t: it started (withholding, unless said otherwise) before t and
        its ending draw, if any, was collected at or after t."""
        for e in self.episodes:
            start = e.withhold_start if withholding else e.known_at
            if start is not None and start < t and (e.end_at is None or e.end_at >= t):
                return e
        return None

    def unresumed_start(self, t: datetime) -> tuple[datetime, str] | None:
        """A withhold start before t with no resume after it, up to t."""
        for start, cause in self.withhold_starts:
            if start < t and not any(start < r.signed_at <= t for r in self.resumes):
                return start, cause
        return None

    def withheld_because(self, t: datetime) -> str | None:
        """Why the subject is withheld at t (not discontinued), or None."""
        if self.discontinued_at is not None and self.discontinued_at < t:
            return None
        episode = self.open_episode(t)
        if episode is not None:
            return f"the elevation of {when(episode.start_at)} (no draw ending it since)"
        unresumed = self.unresumed_start(t)
        if unresumed is not None:
            return f"{unresumed[1]}, with no re-start signed since"
        return None

    def regimen_at(self, t: datetime) -> tuple[Regimen | None, datetime | None]:
        """The regimen in force at t, and the signing time of the decision that set it."""
        regimen, since = self.start_regimen, None
        for d in self.decisions:
            if d.action == RESUME_REDUCED_DOSE and d.signed_at <= t and d.regimen is not None:
                regimen, since = d.regimen, d.signed_at
        return regimen, since


def timeline_of(history: History, rule_set: RuleSet | None = None, peaks=None) -> Timeline:
    rs = rule_set_of(history, rule_set)
    peaks = peak_draws(history.draws) if peaks is None else peaks
    decisions = effective_decisions(history.decisions)
    stops = []
    stop_draw = _discontinue_draw(peaks, history, rs)
    if stop_draw is not None:
        draw = stop_draw[0]
        rule_id = rs.rule("discontinue").id
        stops.append((draw.known_at, f"rule {rule_id} on the draw of {when(draw.collected_at)}"))
    stops += [
        (d.signed_at, f"the discontinue decision of {when(d.signed_at)}")
        for d in decisions
        if d.action == DISCONTINUE
    ]
    stop = min(stops) if stops else (None, "")
    return Timeline(
        episodes=tuple(find_episodes(peaks, rs)),
        decisions=decisions,
        discontinued_at=stop[0],
        discontinued_by=stop[1],
        start_regimen=history.start_regimen,
    )


def _discontinue_draw(peaks, history: History, rs: RuleSet):
    """The subject's first draw meeting the set's discontinuation criteria: (draw, multiple,
    result, reasons), or None."""
    earlier = []
    for draw, multiple, result in peaks:
        reasons = rs.discontinue(draw, multiple, earlier, history, rs)
        if reasons:
            return draw, multiple, result, reasons
        earlier.append((draw, multiple))
    return None


# ---- what a reviewer may decide, and what a dose breaks ---------------------------------


def refusal(
    history: History, action: str, at: datetime, *, regimen=None, alert_kinds=(), peaks=None
):
    """Why the rules refuse this decision signed at `at`, or None when it is allowed.

    Judged against the whole history of labs and doses and the decisions signed before `at`.
    `peaks`, the history's peak_draws, when the caller judges several decisions on its draws.
    """
    earlier = History(
        draws=history.draws,
        doses=history.doses,
        decisions=tuple(d for d in history.decisions if d.signed_at < at),
        active_liver_disease=history.active_liver_disease,
        maintenance_days=history.maintenance_days,
        start_regimen=history.start_regimen,
        rule_set=history.rule_set,
    )
    timeline = timeline_of(earlier, peaks=peaks)
    if timeline.discontinued(at):
        allowed = action in (DISCONTINUE, ACKNOWLEDGE) or (
            action == DISMISS
            and alert_kinds
            and set(alert_kinds) <= {"dose_while_withheld", "dose_off_regimen"}
        )
        if not allowed:
            return (
                f"the subject was discontinued by {timeline.discontinued_by}; only a "
                "discontinuation, an acknowledgement, or dismissing a dosing-error alert "
                "(R9, R11) can be signed now"
            )
    if action not in RESUMES:
        return None
    episode = timeline.open_episode(at, withholding=False)
    if episode is not None:
        return (
            f"an elevation is still open (the draw of {when(episode.start_at)} has had no "
            "later draw ending it): dosing cannot resume until one does"
        )
    if timeline.withheld_because(at) is None:
        return "the subject is not withheld, so there is nothing to resume"
    if action == RESUME_REDUCED_DOSE:
        current, _ = timeline.regimen_at(at)
        if regimen is None:
            return "choose the reduced regimen to re-start on"
        if current is not None and not regimen.is_reduction_of(current):
            return (
                f"{regimen.describe()} is not a reduction of the regimen in force "
                f"({current.describe()}): a lower dose per administration, or the same dose "
                "fewer times a week"
            )
    return None


@dataclass(frozen=True)
class DoseJudgement:
    """What a dose at its own time breaks: the rule and why (none: it follows the rules)."""

    rule: str | None  # "R9", "R11" or None
    reason: str = ""
    regimen: Regimen | None = None


def judge_dose(history: History, at: datetime, dose_mg) -> DoseJudgement:
    """Judge a dose at its own administered_at against the rest of the history."""
    timeline = timeline_of(history)
    regimen, _ = timeline.regimen_at(at)
    if timeline.discontinued_at is not None and timeline.discontinued_at < at:
        return DoseJudgement(
            "R9",
            f"treatment was discontinued on {when(timeline.discontinued_at)} by "
            f"{timeline.discontinued_by}",
            regimen,
        )
    cause = timeline.withheld_because(at)
    if cause is not None:
        return DoseJudgement("R9", f"dosing was withheld at that time after {cause}", regimen)
    if regimen is not None and regimen.dose_mg is not None and Decimal(dose_mg) != regimen.dose_mg:
        return DoseJudgement(
            "R11",
            f"{format_number(dose_mg)} mg differs from the dose of the regimen in force at "
            "that time",
            regimen,
        )
    return DoseJudgement(None, "", regimen)


# ---- the table ---------------------------------------------------------------------------


def _known(draw: Draw) -> str:
    """' (results known …)' when they came later than the collection."""
    if draw.known_at == draw.collected_at:
        return ""
    return f" (results known {when(draw.known_at)})"


def _has_baseline_panel(draw: Draw) -> bool:
    return all(draw.result(analyte) is not None for analyte in BASELINE_ANALYTES)


class _Words:
    """Words of an explanation, written only when a finding uses them: most draws and doses
    fire nothing, and writing their values out was most of an evaluation's time."""

    __slots__ = ("write",)

    def __init__(self, write):
        self.write = write

    def __format__(self, spec):
        return format(self.write(), spec)


class _Table:
    """One evaluation: the findings as the rule set fires them, in one pass over the draws."""

    def __init__(self, history: History, as_of: datetime, rs: RuleSet):
        self.history, self.as_of, self.rs = history, as_of, rs
        self.draws = sorted(history.draws, key=lambda d: (d.collected_at, str(d.key)))
        self.doses = sorted(history.doses, key=lambda d: (d.administered_at, str(d.key)))
        self.peaks = peak_draws(self.draws)
        self.timeline = timeline_of(history, rs, self.peaks)
        self.resumes = self.timeline.resumes
        self.discontinuations = [d for d in self.timeline.decisions if d.action == DISCONTINUE]
        self.episodes = [_with_closer(e, self.case_closer(e)) for e in self.timeline.episodes]
        self.findings: list[Finding] = []

    def fire(self, kind, at, explanation, *, says_what_to_do=False, **extra):
        """Add a finding; its explanation ends with the rule's action unless it says it."""
        rule = self.rs.rule(kind)
        text = f"{explanation}." if says_what_to_do else f"{explanation}: {rule.action}."
        self.findings.append(Finding(rule, at, text, **extra))

    def in_case(self, episode: Episode) -> bool:
        return self.rs.cases and episode.withhold_start is not None

    def case_closer(self, episode: Episode) -> Decision | None:
        """The resume after its withhold start, or any discontinue decision, that closes it."""
        if not self.in_case(episode):
            return None
        resume = next((r for r in self.resumes if r.signed_at > episode.withhold_start), None)
        return resume or (self.discontinuations[0] if self.discontinuations else None)

    def case_of(self, episode: Episode) -> dict:
        """The case fields of an episode's alerts: its name and its closing, if any."""
        if not self.in_case(episode):
            return {}
        return {"case_at": episode.start_at, "resolution": closing_text(episode.closed_by)}

    def run(self) -> SafetyAssessment:
        self.baseline()
        self.along_the_draws()
        self.discontinuation()
        self.overdue_repeats()
        self.doses_at_their_time()
        self.scheduled_lab()
        regimen, regimen_since = self.timeline.regimen_at(FAR)
        self.findings.sort(key=lambda f: (f.triggered_at, KINDS.index(f.kind)))
        return SafetyAssessment(
            as_of=self.as_of,
            findings=tuple(self.findings),
            episodes=tuple(self.episodes),
            state=_state(self.timeline, self.peaks, self.rs),
            regimen=regimen,
            regimen_since=regimen_since,
            rule_set=self.rs,
            withholdings=_withholdings(self.timeline),
            discontinued_at=self.timeline.discontinued_at,
            discontinued_by=self.timeline.discontinued_by,
            peaks={d.key: m for d, m, _ in self.peaks},
        )

    def baseline(self):
        """R1: a baseline panel on or before the first dose."""
        first = self.doses[0] if self.doses else None
        if first and not any(
            d.collected_at <= first.administered_at and _has_baseline_panel(d) for d in self.draws
        ):
            self.fire(
                "missing_baseline",
                first.administered_at,
                f"First dose ({format_number(first.dose_mg)} mg) on "
                f"{when(first.administered_at)} has no draw on or before it holding all of "
                "ALT, AST, ALP and TBIL",
                dose_key=first.key,
            )

    def along_the_draws(self):
        """R2 and each episode's opening, confirmation, severity and end."""
        rs, by_start = self.rs, {e.start_key: e for e in self.episodes}
        episode, seen, severe, start = None, 0, False, None
        previous = None
        for index, (draw, multiple, result) in enumerate(self.peaks):
            said = _Words(lambda d=draw, r=result: f"{r.describe()} on {when(d.collected_at)}")
            if episode is None and draw.key in by_start:
                episode, seen, severe, start = by_start[draw.key], 0, False, (draw, multiple)
                self.opening(episode, draw, multiple, said, self.peaks[index + 1 :])
            elif episode is None:
                self.monitoring(draw, multiple, previous, said, self.peaks[index + 1 :])
            else:
                seen += 1
                case = self.case_of(episode)
                if rs.over(multiple, rs.episode_multiple):
                    if seen == 1 and rs.has("elevation_confirmed"):
                        self.fire(
                            "elevation_confirmed",
                            draw.collected_at,
                            f"{said}{_known(draw)} confirms the elevation of "
                            f"{when(start[0].collected_at)} ({format_multiple(start[1])} ULN)",
                            draw_key=draw.key,
                            **case,
                        )
                else:
                    self.ending(episode, draw, said, start, case)
                    episode = None
            if (
                episode is not None
                and not severe
                and rs.has("severe_elevation")
                and multiple >= rs.severe_multiple
            ):
                severe = True
                self.fire(
                    "severe_elevation",
                    draw.collected_at,
                    f"{said}{_known(draw)}",
                    draw_key=draw.key,
                    **self.case_of(episode),
                )
            previous = multiple

    def opening(self, episode, draw, multiple, said, later):
        rs, case = self.rs, self.case_of(episode)
        repeat = next((d for d, _, _ in later), None)
        due = draw.collected_at + rs.repeat_window
        if rs.opens == OBSERVING:
            resolution = f"A repeat draw came on {when(repeat.collected_at)}." if repeat else None
            self.fire(
                "close_observation",
                draw.collected_at,
                f"{said}{_known(draw)} is over 3× ULN: repeat ALT, AST, ALP and TBIL by "
                f"{when(due)}; close observation",
                says_what_to_do=True,
                draw_key=draw.key,
                due_by=due,
                resolution=resolution,
            )
        elif rs.opens == CONFIRMING and multiple < rs.severe_multiple:
            resolution = f"The repeat draw of {when(repeat.collected_at)} came." if repeat else None
            self.fire(
                "confirm_elevation",
                draw.collected_at,
                f"{said}{_known(draw)}: repeat ALT/AST by {when(due)} to confirm; dosing "
                "continues until confirmed",
                says_what_to_do=True,
                draw_key=draw.key,
                due_by=due,
                **{**case, "resolution": resolution},
            )
        else:
            self.fire(
                "withhold_dose",
                draw.collected_at,
                f"{said}{_known(draw)}: withhold dosing; repeat ALT/AST by {when(due)}",
                says_what_to_do=True,
                draw_key=draw.key,
                due_by=due,
                **case,
            )

    def ending(self, episode, draw, said, start, case):
        since = f"the elevation of {when(start[0].collected_at)}"
        if self.rs.opens == OBSERVING:
            self.fire(
                "observation_ended",
                draw.collected_at,
                f"{said} is at or below 3× ULN, ending the close observation of "
                f"{when(start[0].collected_at)}",
                draw_key=draw.key,
            )
        elif episode.withhold_start is None:
            self.fire(
                "elevation_not_confirmed",
                draw.collected_at,
                f"{said} is below 3× ULN: {since} is not confirmed",
                draw_key=draw.key,
            )
        else:
            self.fire(
                "eligible_reduced_dose",
                draw.collected_at,
                f"{said} is below 3× ULN, ending {since}",
                draw_key=draw.key,
                **case,
            )

    def monitoring(self, draw, multiple, previous, said, later):
        """R2: above 1× (and not over the episode threshold) after a draw at or below 1×."""
        rs = self.rs
        if not rs.has("weekly_monitoring") or multiple <= rs.monitoring_multiple:
            return
        if previous is not None and previous > rs.monitoring_multiple:
            return
        settle = next(
            (
                (d, m)
                for d, m, _ in later
                if m <= rs.monitoring_multiple or rs.over(m, rs.episode_multiple)
            ),
            None,
        )
        resolution = None
        if settle is not None:
            d, m = settle
            resolution = (
                f"ALT/AST back to {format_multiple(m)} ULN on {when(d.collected_at)}."
                if m <= rs.monitoring_multiple
                else f"An elevation started on {when(d.collected_at)}."
            )
        self.fire(
            "weekly_monitoring",
            draw.collected_at,
            said,
            draw_key=draw.key,
            resolution=resolution,
        )

    def discontinuation(self):
        """R6 (or the set's own criteria): potential Hy's law; answered with its episode's case
        where there is one."""
        found = _discontinue_draw(self.peaks, self.history, self.rs)
        if found is None:
            return
        draw, _, result, reasons = found
        closer = self.discontinuations[0] if self.discontinuations else None
        episode = next(
            (
                e
                for e in self.episodes
                if e.start_at <= draw.collected_at
                and (e.end_at is None or draw.collected_at < e.end_at)
            ),
            None,
        )
        case_at = episode.start_at if episode is not None and self.in_case(episode) else None
        self.fire(
            "discontinue",
            draw.collected_at,
            f"{result.describe()} on {when(draw.collected_at)} with {' and '.join(reasons)}",
            draw_key=draw.key,
            resolution=closing_text(closer),
            case_at=case_at,
        )

    def overdue_repeats(self):
        """R7 (or F7): an episode's first draw needs a repeat with a peak within the window."""
        rs = self.rs
        kind = "repeat_overdue" if rs.has("repeat_overdue") else "confirmation_overdue"
        for episode in self.episodes:
            deadline = episode.start_at + rs.repeat_window
            later = [d for d, _, _ in self.peaks if d.collected_at > episode.start_at]
            if any(d.collected_at <= deadline for d in later) or self.as_of <= deadline:
                continue
            _, _, start_result = next(p for p in self.peaks if p[0].key == episode.start_key)
            case = self.case_of(episode)
            if later:
                case["resolution"] = f"A repeat draw arrived on {when(later[0].collected_at)}."
            self.fire(
                kind,
                episode.start_at,
                f"{start_result.describe()} on {when(episode.start_at)} had no repeat "
                f"ALT/AST by {when(deadline)}",
                draw_key=episode.start_key,
                **case,
            )

    def doses_at_their_time(self):
        """R9 and R11: each dose judged at its own time."""
        timeline = self.timeline
        for dose in self.doses:
            t = dose.administered_at
            if timeline.discontinued_at is not None and timeline.discontinued_at < t:
                cause = f"after {timeline.discontinued_by} discontinued treatment"
            else:
                cause = timeline.withheld_because(t)
                cause = f"while dosing was withheld after {cause}" if cause else None
            said = _Words(
                lambda d=dose: f"Dose of {format_number(d.dose_mg)} mg on {when(d.administered_at)}"
            )
            if cause:
                self.fire("dose_while_withheld", t, f"{said} was given {cause}", dose_key=dose.key)
                continue
            regimen, _ = timeline.regimen_at(t)
            if regimen is not None and regimen.dose_mg is not None:
                if dose.dose_mg != regimen.dose_mg:
                    self.fire(
                        "dose_off_regimen",
                        t,
                        f"{said} differs from the dose of the regimen in force",
                        dose_key=dose.key,
                    )

    def scheduled_lab(self):
        """R10: the scheduled ALT/AST, for a dosed subject never discontinued."""
        if not self.doses or self.timeline.discontinued_at is not None:
            return
        first_dose = self.doses[0]
        last = self.peaks[-1] if self.peaks else None
        latest_resume = self.resumes[-1] if self.resumes else None
        ref_multiple, ref_draw_key, ref_dose_key = None, None, None
        if last and (latest_resume is None or last[0].collected_at >= latest_resume.signed_at):
            ref_at, ref_multiple, ref_draw_key = last[0].collected_at, last[1], last[0].key
            what = "the last ALT/AST"
        elif latest_resume is not None:
            ref_at, what = latest_resume.signed_at, "the re-start"
        else:
            ref_at, ref_dose_key, what = (
                first_dose.administered_at,
                first_dose.key,
                "the first dose",
            )
        resumed = [r.signed_at for r in self.resumes if r.signed_at <= ref_at]
        interval = self.rs.lab_interval(
            ref_at,
            first_dose.administered_at,
            resumed[-1] if resumed else None,
            ref_multiple,
            self.history.maintenance_days,
            self.rs,
        )
        due = ref_at + timedelta(days=interval)
        if self.as_of <= due + self.rs.grace:
            return
        self.fire(
            "lab_overdue",
            ref_at,
            f"No ALT/AST since {what} on {when(ref_at)}; the next was due by {when(due)} "
            f"(every {interval} days)",
            draw_key=ref_draw_key,
            dose_key=ref_dose_key,
            due_by=due,
        )


def _with_closer(episode: Episode, closer: Decision | None) -> Episode:
    return Episode(
        episode.start_key,
        episode.start_at,
        episode.withhold_start,
        episode.end_key,
        episode.end_at,
        closer,
        episode.known_at,
    )


def closing_text(decision: Decision | None) -> str | None:
    """How the engine says a decision closed an alert."""
    if decision is None:
        return None
    who = f" by {decision.reviewer}" if decision.reviewer else ""
    if decision.action == DISCONTINUE:
        return f"Treatment discontinued{who} on {when(decision.signed_at)}."
    if decision.action == RESUME_REDUCED_DOSE and decision.regimen is not None:
        return f"Re-started at a reduced dose{who} on {when(decision.signed_at)}."
    return f"Re-started at the same dose{who} on {when(decision.signed_at)}."


def evaluate(
    history: History, as_of: datetime, rule_set: RuleSet | None = None
) -> SafetyAssessment:
    """Apply the rule set (the study's, unless one is given) to a subject's whole history as
    of `as_of`. The result depends only on the data, never on the order it is given in;
    `as_of` only decides the overdue rules (R7/F7, R10)."""
    return _Table(history, as_of, rule_set_of(history, rule_set)).run()


def _state(timeline: Timeline, peaks, rs: RuleSet) -> str:
    """The subject's safety state over its whole history (sections 3 and 3b, in that order)."""
    if timeline.discontinued_at is not None:
        return DISCONTINUED
    episodes, resumes = timeline.episodes, timeline.resumes
    unresumed = [
        s for s, _ in timeline.withhold_starts if not any(r.signed_at > s for r in resumes)
    ]
    if episodes and episodes[-1].end_at is None:
        if episodes[-1].withhold_start is not None or unresumed:
            return WITHHELD
        return CLOSE_OBSERVATION
    if unresumed:
        withheld = [e for e in episodes if e.withhold_start is not None]
        last = withheld[-1] if withheld else None
        latest_resume = resumes[-1].signed_at if resumes else None
        if (
            last is not None
            and (latest_resume is None or last.withhold_start > latest_resume)
            and not any(
                d.action == WITHHOLD and d.signed_at > last.end_at for d in timeline.decisions
            )
        ):
            return RESTART_PENDING
        return WITHHELD
    if peaks and peaks[-1][1] > rs.monitoring_multiple:
        return MONITORING
    return DOSING


def _withholdings(timeline: Timeline) -> tuple[Withholding, ...]:
    """The periods dosing was withheld, for the chart: each withhold start until its first
    resume after it, merged where they overlap; an open episode runs until it ends."""
    spans = []
    for start, cause in timeline.withhold_starts:
        end = next((r.signed_at for r in timeline.resumes if r.signed_at > start), None)
        for e in timeline.episodes:
            if e.withhold_start == start and e.end_at is not None and end is not None:
                end = max(end, e.end_at)
        if timeline.discontinued_at is not None:
            if start >= timeline.discontinued_at:
                continue
            end = timeline.discontinued_at if end is None else min(end, timeline.discontinued_at)
        spans.append([start, end, cause])
    merged = []
    for start, end, cause in sorted(spans, key=lambda s: s[0]):
        if merged and (merged[-1][1] is None or start <= merged[-1][1]):
            if merged[-1][1] is not None and (end is None or end > merged[-1][1]):
                merged[-1][1] = end
            continue
        merged.append([start, end, cause])
    return tuple(Withholding(s, e, c) for s, e, c in merged)
