"""Synthetic mipomersen study generator that stresses the rule table (DESIGN.md 3 and 5, v2).

    subjects_csv, doses_csv, labs_csv, decisions_csv = generate_study(seed, n_subjects)
    write_study(directory, seed, n_subjects)  # subjects.csv, doses.csv, labs.csv, decisions.csv

Deterministic for a seed (one random.Random(seed), no set iteration, no clock). Every datetime
is after 1900 and before DEFAULT_AS_OF; evaluate at DEFAULT_AS_OF to hit the time-rule
boundaries it plants (a subject whose episode started exactly 7 days before it, a last draw
exactly 9 days before it).

What it plants: two arms (standard 200 mg weekly, reduced 70 mg three times weekly), baselines
that are missing an analyte, split over two draws, after or at the same instant as the first
dose, or absent; weekly then monthly ALT/AST; lipid-only and TBIL-only draws; SI units; reported
and empty ULNs; multiples exactly 1.0x, 2.999x, 3.0x, 5.0x and TBIL exactly 2.0x / 1.999x;
repeats at exactly 168 h, at 168 h + 1 s, early, late, or never; doses while withheld (including
at the same instant as the episode's first draw, one second after it, at the instant of the draw
that ends it, after a discontinue); symptoms flags; active liver disease; Gilbert-like
bilirubin without transaminase rise; dropouts and lab lapses; offsets +02:00, -05:00, +05:30,
Z, none, and date-only doses at midnight UTC; rows of one draw written with different offsets;
all rows shuffled.

Rules v2 adds: a resulted_at column (empty, equal to collected_at, hours or days later; one text
on every row of a draw); doses between an elevated draw's collection and its result (not R9)
and at the exact withhold start; signed decisions by "dr_reviewer": withhold (at a draw's
instant, between collection and result, after an episode ended, or with no episode at all),
resume_same_dose and resume_reduced_dose (standard -> reduced) at exactly a re-start dose's
instant, at a pre-restart draw's instant, at a withhold start, or weeks late after an unsigned
re-start; discontinue (after an R6 draw, instead of a re-start, or at withdrawal); doses at the
reduced regimen after a reduced re-start and off-regimen doses (R11); restart_pending subjects;
subjects re-elevated after a resume; a resume as the last R10 reference, and a draw exactly 28
days (or 1 s less) after it. Candidate decisions are checked with the oracle's refusal rules
(tests/oracle.py) in signed_at order; the refused ones are dropped, so every emitted decision
is one the app accepts.

Section 3b: generate_study(seed, n, rule_set="kynamro_label" | "fda_dili_2009") plants, on top
of all the above (the default rule_set="seed" output is unchanged, byte for byte): INR (`{INR}`,
no ULN; around 1.0, some exactly 1.5, some above) and eosinophils (`%`; some exactly 5, some
above) results; first draws at 3.0x, 3.001x, 3-5x, 4.999x, 5x, 8.0x, 8.001x and above; 3-5x
first draws confirmed or not on the next draw, with doses at exactly the confirming draw's
result and one second after it; endings at exactly 3.0x (fda_dili_2009); runs of consecutive
draws > 5x whose first is exactly 336 h or 336 h + 1 s before a later one (some broken by a draw
at exactly 5x, some with a draw without a peak inside); TBIL exactly 2x and above, INR / EOS
signs on the onset or a repeat; symptoms; an F7 edge (an episode starting exactly 72 h, or 72 h
+ 1 s, before the evaluation time); subjects dosed from a year before DEFAULT_AS_OF whose last
draw is exactly 365 days (or 1 s less, or a few days either side) after the first dose, and 32
days (or 1 s more), 60 days, 93 days (or 1 s more) before the evaluation time (kynamro_label
R10's 30 / 91 days). Decisions are checked with the refusals of the set generated, and resumes
are kept out of the gap between an episode's first collection and its result when that episode
withholds nothing at its first draw (where the reading of "open" is ambiguous).
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path

from . import oracle

DAY = timedelta(days=1)
WEEK = timedelta(days=7)
SECOND = timedelta(seconds=1)
STUDY_START = datetime(2024, 1, 8, tzinfo=UTC)
DEFAULT_AS_OF = datetime(2024, 12, 1, tzinfo=UTC)
SITES = ("S01", "S02", "S03", "S04", "S05")
SITE_OFFSET = {
    "S01": None,
    "S02": timedelta(hours=2),
    "S03": timedelta(hours=-5),
    "S04": timedelta(hours=1),
    "S05": timedelta(hours=5, minutes=30),
}
OTHER_OFFSETS = (timedelta(hours=2), timedelta(hours=-5), timedelta(0), timedelta(hours=9))
FDA = "fda_dili_2009"
KYNAMRO = "kynamro_label"
HOURS_72 = timedelta(hours=72)
HOURS_336 = timedelta(hours=336)
YEAR = timedelta(days=365)
ABSOLUTE_UNITS = {"INR": "{INR}", "EOS": "%"}  # no ULN: values as given
# regimen code -> (mg per administration, weekday offsets): DESIGN section 2's two regimens
REGIMENS = {"standard": (200, (0,)), "reduced": (70, (0, 2, 4))}

DEFAULT_ULN = {
    ("ALT", "M"): 41,
    ("ALT", "F"): 33,
    ("AST", "M"): 40,
    ("AST", "F"): 32,
    ("ALP", "M"): 129,
    ("ALP", "F"): 104,
    ("TBIL", "M"): Fraction("1.2"),
    ("TBIL", "F"): Fraction("1.2"),
}
# test -> (canonical unit, SI unit, canonical->SI factor, decimals canonical, decimals SI)
UNITS = {
    "ALT": ("U/L", "ukat/L", Fraction(1, 60), 0, 2),
    "AST": ("U/L", "ukat/L", Fraction(1, 60), 0, 2),
    "ALP": ("U/L", "ukat/L", Fraction(1, 60), 0, 2),
    "TBIL": ("mg/dL", "umol/L", Fraction("17.1"), 2, 1),
    "LDLC": ("mg/dL", "mmol/L", 1 / Fraction("38.67"), 0, 2),
    "APOB": ("mg/dL", "g/L", Fraction(1, 100), 0, 2),
}
REPORTED_ULN = {
    ("ALT", "U/L"): ("33", "35", "40", "41", "45", "55"),
    ("ALT", "ukat/L"): ("0.55", "0.58", "0.6", "0.74", "0.85"),
    ("AST", "U/L"): ("32", "34", "40", "48"),
    ("AST", "ukat/L"): ("0.53", "0.6", "0.72"),
    ("ALP", "U/L"): ("104", "120", "129", "147"),
    ("ALP", "ukat/L"): ("1.75", "2.15", "2.5"),
    ("TBIL", "mg/dL"): ("1", "1.1", "1.2", "1.3"),
    ("TBIL", "umol/L"): ("17", "20.52", "21", "22"),
}
F = Fraction
TBIL_HY = [F(2), F("2.6"), F("3.1")]
FIRST_MULTIPLES = [F(3), F(3), F("3.4"), F("4.2"), F(5), F("6.1"), F("8.7")]
REPEAT_MULTIPLES = [F(3), F("3.6"), F("4.4"), F(5), F("7.2")]
# section 3b: 3.0x (FDA: not > 3x) and just above, 3-5x, just under and at 5x, 8.0x (FDA: not
# > 8x) and just above
FIRST_MULTIPLES_3B = [F(3), F(3), F("3.001"), F("3.4"), F("3.8"), F("4.2"), F("4.6"), F("4.999")]
FIRST_MULTIPLES_3B += [F(5), F("6.1")]
FIRST_MULTIPLES_3B += [F(8), F("8.001"), F("8.7")]
REPEAT_MULTIPLES_3B = [F(3), F("3.6"), F("4.4"), F(5), F("5.001"), F("7.2"), F(8), F("8.001")]


def _digits(n: int, places: int) -> str:
    """Integer n scaled by 10**-places as a plain decimal string (no exponent)."""
    sign, s = ("-" if n < 0 else ""), str(abs(n)).rjust(places + 1, "0")
    if places == 0:
        return sign + s
    whole, frac = s[:-places], s[-places:].rstrip("0")
    return sign + whole + ("." + frac if frac else "")


def _exact_text(value: Fraction, max_places: int = 6) -> str | None:
    for places in range(max_places + 1):
        scaled = value * 10**places
        if scaled.denominator == 1:
            return _digits(scaled.numerator, places)
    return None


def _rounded_text(value: Fraction, places: int) -> str:
    return _digits(max(1, round(value * 10**places)), places)  # always positive


@dataclass
class _Draw:
    at: datetime
    # (test, "x" and a multiple of ULN | "v" and a canonical value, Fraction, exact)
    results: list = field(default_factory=list)
    symptoms: bool = False
    resulted: datetime | None = None  # when the result was known (collected_at when not shown)
    show_resulted: bool = False  # write resulted_at (else the cell is empty)


class _Subject:
    def __init__(self, rng: random.Random, index: int, opts: dict):
        self.rng, self.opts = rng, opts
        self.rule_set = opts.get("rule_set", "seed")
        self.extended = self.rule_set != "seed"  # section 3b: plant INR, EOS, runs, ...
        self.plan = ""
        self.site = rng.choice(SITES)
        self.sid = f"{self.site}-{index:04d}"
        self.sex = rng.choice("MF")
        self.arm = "standard" if rng.random() < 0.5 else "reduced"
        self.regimen = self.arm  # the regimen the site doses on (the arms start on their own)
        self.birth = date(1950, 1, 1) + timedelta(days=rng.randint(0, 52 * 365))
        late = rng.random() < 0.15
        offset_days = rng.randint(250, 300) if late else rng.randint(0, 240)
        self.enrolled = (STUDY_START + DAY * offset_days).date()
        self.ald = rng.random() < opts["ald_fraction"]
        self.gilbert = rng.random() < 0.04
        self.discontinued = False  # an R6 draw was planted
        self.discontinued_at = None  # its result (when the site stops dosing for good)
        self.stopped_by_decision = False  # a discontinue decision was planted
        self.draws: list[_Draw] = []
        self.segments: list[list] = []  # [start, end or None, regimen]
        self.extra_doses: list[tuple[datetime, int]] = []
        self.decisions: list[tuple[datetime, str, str]] = []  # candidates: (at, action, regimen)
        self.base = F(f"{rng.uniform(0.25, 0.85):.3f}")
        self.ldl = F(rng.randint(140, 260))
        self.apob = F(rng.randint(100, 200))
        self.efficacy = F(f"{rng.uniform(0.1, 0.5):.2f}")
        self.uln_choice: dict = {}
        self.first_dose = None
        if rng.random() > 0.03:  # 3 % screen failures: never dosed
            midnight = datetime.combine(self.enrolled, datetime.min.time(), UTC)
            self.first_dose = (
                midnight + DAY * rng.randint(1, 10) + timedelta(minutes=rng.randint(420, 1020))
            )
        self.end = DEFAULT_AS_OF
        self.last_resume = None
        self.story: list[str] = []  # what was planted, for reading a generated subject

    # ---- building blocks -------------------------------------------------------------------
    def hours(self, lo=-6, hi=6) -> timedelta:
        return timedelta(minutes=self.rng.randint(lo * 60, hi * 60))

    def lipids(self, at: datetime) -> list:
        weeks = max(0, (at - self.first_dose).days / 7) if self.first_dose else 0
        drop = 1 - self.efficacy * F(min(1, weeks / 12)).limit_denominator(100)
        noise = F(f"{self.rng.uniform(0.92, 1.08):.2f}")
        return [
            ("LDLC", "v", self.ldl * drop * noise, False),
            ("APOB", "v", self.apob * drop * noise, False),
        ]

    def result_delay(self, mode=None) -> tuple[timedelta, bool]:
        """How long after collection the result was known, and whether resulted_at is written:
        empty (an import: collected_at), written equal, hours later or days later."""
        rng = self.rng
        if mode is None:
            mode = rng.choices(["empty", "equal", "hours", "days"], [35, 5, 40, 20])[0]
        if mode == "empty":
            return timedelta(0), False
        if mode == "equal":
            return timedelta(0), True
        if mode == "hours":
            return timedelta(minutes=rng.randint(20, 12 * 60)), True
        return DAY * rng.randint(1, 3) + self.hours(0, 12), True

    def add(self, at, results, symptoms=False, resulted=None):
        """A draw; resulted: None (random), a mode of result_delay, or a timedelta."""
        at = at.replace(microsecond=0)
        while any(d.at == at for d in self.draws):  # two planned draws never merge by accident
            at += timedelta(minutes=1)
        if isinstance(resulted, timedelta):
            delay, show = resulted, True
        else:
            delay, show = self.result_delay(resulted)
        if at + delay >= DEFAULT_AS_OF:  # every datetime before DEFAULT_AS_OF
            delay, show = timedelta(0), False
        if at < self.end and results:
            draw = _Draw(at, results, symptoms, at + delay, show)
            self.draws.append(draw)
            return draw
        return None

    def monitor(
        self,
        at,
        m,
        *,
        exact=False,
        full=False,
        tbil=None,
        symptoms=False,
        lipids=False,
        resulted=None,
        inr=None,
        eos=None,
    ):
        """An ALT/AST draw whose peak is m (exactly, when exact)."""
        rng = self.rng
        if self.extended and self.stopped_by_decision and self.rule_set == FDA and m > 5:
            m = F(5)  # after a discontinue decision: no S1 / S2 (see the AMBIGUOUS below)
        other = F(f"{float(m) * rng.uniform(0.45, 0.9):.3f}")
        lead, follow = ("AST", "ALT") if rng.random() < 0.15 else ("ALT", "AST")
        results = [(lead, "x", m, exact)]
        if rng.random() > 0.08 or exact:
            results.append((follow, "x", other, False))
        if full or rng.random() < 0.2:
            results.append(("ALP", "x", F(f"{rng.uniform(0.3, 0.95):.3f}"), False))
            if tbil is None:
                tbil = F(f"{rng.uniform(1.3, 2.6) if self.gilbert else rng.uniform(0.2, 0.9):.3f}")
        if self.extended:
            if inr is None and (full or rng.random() < 0.25):
                inr = rng.choice([F("0.9"), F(1), F(1), F("1.1"), F("1.2"), F("1.3")])
            if eos is None and (full or rng.random() < 0.2):
                eos = rng.choice([F(1), F(2), F("2.5"), F(3), F(4)])
        if m >= 3 and self.stopped_by_decision:
            # AMBIGUOUS (kept out of the data): does a discontinue decision signed BEFORE an R6
            # draw resolve it? After a discontinue decision, no elevation has a Hy's-law sign.
            symptoms = False
            if tbil is not None and tbil >= 2:
                tbil = F("1.9")
            if inr is not None and inr > F("1.5"):  # nor an F6 sign (fda_dili_2009)
                inr = F("1.4")
            if eos is not None and eos > 5:
                eos = F(4)
        if tbil is not None:
            results.append(("TBIL", "x", tbil, True))
        if inr is not None:
            results.append(("INR", "a", inr, True))
        if eos is not None:
            results.append(("EOS", "a", eos, True))
        if lipids:
            results += self.lipids(at)
        was = self.discontinued
        if m < 3:  # symptoms without a 3x rise: no discontinue
            symptoms = symptoms or rng.random() < 0.02
        elif self.rule_set != FDA and (symptoms or self.ald or (tbil is not None and tbil >= 2)):
            self.discontinued = True  # the site follows R6 and never restarts dosing
        if self.rule_set == FDA and self.f6_sign(at, m, tbil, inr, eos, symptoms):
            self.discontinued = True  # the site follows F6 and never restarts dosing
        draw = self.add(at, results, symptoms, resulted)
        if self.discontinued and not was and draw is not None:
            self.discontinued_at = draw.resulted
        return draw

    def peak_of(self, draw) -> Fraction | None:
        found = [a for t, k, a, _ in draw.results if t in ("ALT", "AST") and k == "x"]
        return max(found) if found else None

    def f6_sign(self, at, m, tbil, inr, eos, symptoms) -> bool:
        """fda_dili_2009 F6 (S1-S4) for a planned draw at `at` with peak m (approximate S2:
        the planned draws before it, in time order)."""
        if m <= 3:
            return False
        if m > 8 or (tbil is not None and tbil > 2) or (inr is not None and inr > F("1.5")):
            return True
        if symptoms or (eos is not None and eos > 5):
            return True
        if m <= 5:
            return False
        first = at
        for draw in sorted(self.draws, key=lambda d: d.at, reverse=True):
            peak = self.peak_of(draw)
            if draw.at >= at or peak is None:
                continue
            if peak <= 5:
                break
            first = draw.at
        return at - first > HOURS_336

    def background(self) -> Fraction:
        return F(f"{float(self.base) * self.rng.uniform(0.8, 1.2):.3f}")

    def start_dosing(self, at, regimen):
        self.stop_dosing(at)
        self.regimen = regimen
        self.segments.append([at, None, regimen])

    def stop_dosing(self, at):
        if self.segments and self.segments[-1][1] is None:
            self.segments[-1][1] = at

    def dose(self, at, mg=None):
        at = at.replace(microsecond=0)
        if at < self.end:
            self.extra_doses.append((at, mg if mg is not None else REGIMENS[self.regimen][0]))

    def decide(self, at, action, regimen=""):
        """A candidate decision (the checker drops what the app would refuse)."""
        at = at.replace(microsecond=0)
        while any(d[0] == at for d in self.decisions):  # one decision per instant and subject
            at += timedelta(minutes=1)
        if at < self.end:
            self.decisions.append((at, action, regimen))
        return at

    def off_regimen_dose(self, start):
        """A dose of the other regimen's size a few days into a dosing period (R11)."""
        other = "standard" if self.regimen == "reduced" else "reduced"
        mg = self.rng.choice([REGIMENS[other][0], 100])
        self.dose(start + WEEK * self.rng.randint(1, 3) + DAY + self.hours(0, 6), mg)

    # ---- the story of one subject ----------------------------------------------------------
    def simulate(self):
        rng, fd = self.rng, self.first_dose
        if self.extended:
            self.plan = rng.choices(["", "year", "run336"], [68, 14, 18])[0]
            if self.plan == "year":
                return self.year_story()
        self.baseline()
        if fd is None:
            return
        self.start_dosing(fd, self.arm)
        if rng.random() < 0.06:
            self.off_regimen_dose(fd)
        plan = rng.random()
        episodes = 0
        if plan < self.opts["episode_fraction"]:
            episodes = 2 if rng.random() < 0.2 else 1
        mild = self.opts["episode_fraction"] <= plan < self.opts["episode_fraction"] + 0.2
        onset = rng.randint(1, 8)
        special = rng.choices(
            [
                "",
                "r7_edge",
                "r10_edge",
                "r10_28d",
                "lapse",
                "withdrawn",
                "held",
                "resume_last",
                "pending",
            ],
            [59, 5, 6, 4, 8, 7, 5, 5, 3],
        )[0]
        if special in ("r7_edge", "r10_edge", "r10_28d", "held"):
            episodes = 0  # keep the planted boundary the last draw with a peak
        if special in ("resume_last", "pending"):
            episodes, onset = 1, rng.randint(1, 5)
        if self.plan == "run336":  # one planted run of draws > 5x, nothing else special
            special, episodes = "", 1
        self.story.append(f"special {special or '-'} {self.plan or '-'}")
        hold_at = rng.randint(2, 6)
        labs_end = DEFAULT_AS_OF
        if special in ("lapse", "withdrawn"):
            labs_end = min(fd + DAY * rng.randint(20, 200), DEFAULT_AS_OF)
            if special == "withdrawn":
                self.end = labs_end
                if rng.random() < 0.3:  # the reviewer discontinues a subject who withdrew
                    self.decide(labs_end - self.hours(2, 30), "discontinue")
        edge = DEFAULT_AS_OF - (WEEK if special == "r7_edge" else WEEK + 2 * DAY)
        if self.rule_set == FDA and special == "r7_edge":
            edge = DEFAULT_AS_OF - HOURS_72  # F7's window
        edge -= SECOND * rng.randint(0, 1)  # exactly on the boundary, or one second past it
        t, weekly, i = fd, 4, 0
        while True:
            exact_step = special == "r10_28d" or rng.random() < 0.1
            t = t + (WEEK if weekly > 0 else DAY * rng.randint(28, 31))
            if not exact_step:
                t += self.hours()
            if special == "r10_28d" and i == 3:  # reference exactly 28 days (or 1 s less) after
                t = fd + 4 * WEEK - SECOND * rng.randint(0, 1)
                self.monitor(t, self.base, lipids=True)
                return self.finish(labs_only=True)
            if special in ("r7_edge", "r10_edge") and t >= edge and edge > fd:
                if special == "r7_edge":  # an episode starts; no repeat before the evaluation
                    draw = self.monitor(
                        edge, F(3) + F(rng.randint(0, 20), 10), exact=True, full=True
                    )
                    self.stop_dosing(edge)
                    if draw is not None and rng.random() < 0.3:  # signed at the draw's instant
                        self.decide(draw.at, "withhold")
                else:  # last draw with a peak > 1x: 7-day interval, +2 days grace
                    self.monitor(edge, F("1.5"), exact=True)
                return self.finish(labs_only=True)
            if t >= min(labs_end, self.end):
                break
            if episodes and i >= onset:
                after = {"resume_last": "resume", "pending": "pending"}.get(special)
                if self.plan == "run336":
                    t = self.run_episode(t)
                else:
                    t = self.episode(t, after)
                episodes -= 1
                onset = i + rng.randint(3, 8)
                weekly = 4
                if special == "resume_last":
                    return self.resume_tail()
            else:
                m, exact = self.background(), False
                if mild and rng.random() < 0.3:
                    m = rng.choice([F(1), F("1.001"), F("1.5"), F("2.2"), F("2.999"), F("1.8")])
                    weekly, exact = max(weekly, 3), True
                draw = self.monitor(t, m, exact=exact, lipids=rng.random() < 0.1)
                if rng.random() < 0.08:  # a lipid-only draw a little later
                    self.add(t + DAY * rng.randint(1, 3) + self.hours(), self.lipids(t))
                if special == "held" and i == hold_at and draw is not None:
                    t = self.held(draw)
            weekly -= 1
            i += 1
        self.finish()

    def finish(self, labs_only=False):
        if not labs_only:
            self.stop_dosing(self.end)

    def held(self, draw) -> datetime:
        """A reviewer withholds without an episode; half of them later resume at the instant
        of the restart dose, the others stay withheld to the end."""
        rng = self.rng
        w = draw.at if rng.random() < 0.5 else draw.resulted + self.hours(1, 20)
        w = self.decide(w, "withhold")
        self.stop_dosing(w)
        if rng.random() < 0.4:  # a dose at the same instant as the withhold start: not after it
            self.dose(w)
        if rng.random() < 0.5:
            restart = w + WEEK * rng.randint(2, 6) + self.hours(0, 6)
            self.decide(restart, "resume_same_dose")
            self.start_dosing(restart, self.regimen)
            self.last_resume = restart
        return draw.at

    def resume_tail(self):
        """The resume (or the draw 28 days after it, or 1 s less) is the subject's last
        reference: no ALT/AST after it (R10's reference is the latest resume)."""
        rng = self.rng
        if self.last_resume is not None and rng.random() < 0.5:
            self.monitor(self.last_resume + 4 * WEEK - SECOND * rng.randint(0, 1), self.base)
        self.finish()

    def baseline(self):
        rng = self.rng
        ref = self.first_dose or datetime.combine(self.enrolled, datetime.min.time(), UTC) + 5 * DAY
        kind = rng.choices(
            ["normal", "missing", "after", "same", "none", "elevated"], [70, 12, 5, 5, 3, 5]
        )[0]
        at = {"after": ref + self.hours(1, 8), "same": ref}.get(
            kind, ref - DAY * rng.randint(1, 10) + self.hours()
        )
        if kind == "none":
            return
        tbil = F(f"{rng.uniform(1.3, 2.6) if self.gilbert else rng.uniform(0.2, 0.9):.3f}")
        results = [
            ("ALT", "x", self.base, False),
            ("AST", "x", F(f"{float(self.base) * rng.uniform(0.6, 1.1):.3f}"), False),
            ("ALP", "x", F(f"{rng.uniform(0.3, 0.95):.3f}"), False),
            ("TBIL", "x", tbil, False),
        ]
        if kind == "missing":
            gone = results.pop(rng.randrange(4))
            if rng.random() < 0.5:  # supplied by a separate draw before the first dose
                self.add(at - self.hours(1, 30) if rng.random() < 0.5 else at + SECOND, [gone])
        results += self.lipids(at) if rng.random() < 0.85 else []
        if self.extended:  # section 3b: INR and eosinophils at baseline
            results.append(("INR", "a", rng.choice([F("0.9"), F(1), F("1.1")]), True))
            results.append(("EOS", "a", rng.choice([F(1), F(2), F(3)]), True))
        if kind == "elevated":  # pre-dose elevation: 1-3x (R2) or >= 3x then a re-screen
            high = rng.choice([F("1.6"), F("3.2"), F(3)])
            if self.ald or tbil >= 2:  # keep R6 (and a flood of R9) off the baseline
                high = F("1.6")
            results[0] = ("ALT", "x", high, True)
            fd = self.first_dose
            if high < 3 or fd is None:
                self.add(at, results)
                return
            # a pre-dose episode withholds: re-screen, then a resume before dosing may start
            middle = at + timedelta(minutes=(fd - at) // timedelta(minutes=2))
            first = self.add(at, results, resulted=rng.choice(["empty", "equal", "hours"]))
            if first is None:
                return
            self.monitor(middle, F("1.2"), exact=True, full=True, resulted="empty")
            after = max(middle, first.resulted)
            when = rng.choices(["dose", "between", "late"], [60, 30, 10])[0]
            if when == "dose" and after < fd:  # resume at the instant of the first dose
                self.decide(fd, "resume_same_dose")
            elif when == "between" and after + 2 * SECOND < fd:
                self.decide(after + (fd - after) / 2, "resume_same_dose")
            else:  # the site doses before the resume is signed: R9 until it is
                self.decide(fd + WEEK * rng.randint(2, 4) + self.hours(0, 6), "resume_same_dose")
            return
        self.add(at, results)

    def episode(self, t0: datetime, force=None) -> datetime:
        """An elevation >= 3x at t0, withholding, repeats, resolution, the reviewer's decisions
        and a re-start; returns the last draw."""
        rng = self.rng
        m0 = rng.choice(FIRST_MULTIPLES_3B if self.extended else FIRST_MULTIPLES)
        hy = rng.random() < (0.3 if self.extended else 0.15)
        hy_on_onset = rng.random() < 0.6
        tbil_hy = rng.choice([F(2), F(2), F("2.6"), F("3.1")] if self.extended else TBIL_HY)
        tbil0 = tbil_hy if hy and hy_on_onset else rng.choice([F("1.999"), F("0.7"), F("0.5")])
        symptoms = rng.random() < 0.08
        signs, signs0 = {}, {}  # section 3b: an INR or eosinophil sign (or one just short)
        if self.extended:
            sign = rng.choices(["", "inr", "eos"], [40, 30, 30])[0]
            if sign == "inr":
                signs = {"inr": rng.choice([F("1.5"), F("1.51"), F("1.7"), F("2.4")])}
            elif sign == "eos":
                signs = {"eos": rng.choice([F(5), F("5.1"), F(6), F(9)])}
            signs0 = signs if rng.random() < 0.6 else {}
        mode = rng.choices(["empty", "hours", "days"], [30, 45, 25])[0]
        first = self.monitor(
            t0, m0, exact=True, full=True, tbil=tbil0, symptoms=symptoms, resulted=mode, **signs0
        )
        if first is None:
            return t0
        t0, s = first.at, first.resulted  # collected, and the withhold start it gives
        # How the site stops: when the result is known, when a reviewer signs a withhold (at
        # the draw's instant, or between collection and result), or at collection.
        how = rng.choices(["result", "decision", "collected"], [55, 30, 15])[0]
        stop = {"result": s, "collected": t0}.get(how)
        if how == "decision":
            w = t0 if rng.random() < 0.5 or s == t0 else t0 + (s - t0) / 3
            stop = self.decide(w.replace(microsecond=0), "withhold")
        # Section 3b: an episode that withholds nothing at first (FDA close observation, a
        # kynamro 3-5x elevation until it is confirmed): the site mostly keeps dosing.
        follow_label = False
        if self.extended and how != "decision":
            follow_label = self.rule_set == FDA or (m0 < 5 and rng.random() < 0.7)
        if follow_label and self.discontinued:
            self.stop_dosing(self.discontinued_at or stop)
        elif not follow_label:
            self.stop_dosing(stop)
        deviation = rng.choices(
            [
                "",
                "same_instant",
                "one_second",
                "continued",
                "end_instant",
                "after_discontinue",
                "before_result",
            ],
            [42, 10, 10, 10, 10, 8, 10],
        )[0]
        if deviation == "same_instant":  # at the withhold start, or at the collection
            self.dose(rng.choice([stop, s, t0]))
        elif deviation == "one_second":
            self.dose(stop + SECOND)
        elif deviation == "continued":
            self.dose(t0 + 2 * DAY + self.hours(0, 5))
        elif deviation == "before_result" and s - t0 > 2 * SECOND:
            self.dose((t0 + (s - t0) / 2).replace(microsecond=0))  # before the result: no R9
        timing = rng.choices(["exact7", "plus1s", "early", "late", "lost"], [20, 15, 35, 20, 10])[0]
        delay = {
            "exact7": WEEK,
            "plus1s": WEEK + SECOND,
            "early": DAY * rng.randint(2, 6) + self.hours(0, 12),
            "late": DAY * rng.randint(8, 21) + self.hours(0, 12),
            "lost": DAY * rng.randint(25, 45),
        }[timing]
        if self.rule_set == FDA and timing in ("exact7", "plus1s"):  # F7's 72-hour window
            delay = HOURS_72 + (SECOND if timing == "plus1s" else timedelta(0))
        if rng.random() < 0.15:  # a draw without a peak inside the episode ends nothing
            self.add(t0 + DAY, [("TBIL", "x", F("0.8"), False)] + self.lipids(t0))
        if rng.random() < (0.4 if stop < s else 0.05):  # a resume at the withhold start s:
            self.decide(s, "resume_same_dose")  # valid only when withheld from before s
        t, m = t0 + delay, None
        if rng.random() < (0.6 if self.extended else 0.5):  # confirmed, then weekly repeats
            m = rng.choice(REPEAT_MULTIPLES_3B if self.extended else REPEAT_MULTIPLES)
            tb = tbil_hy if hy and not hy_on_onset else None
            extra, confirming = ({} if signs0 else signs), True
            while m >= 3:
                repeat = self.monitor(t, m, exact=True, full=True, tbil=tb, **extra)
                if self.extended and confirming and repeat is not None:
                    # kynamro_label: the confirming draw's result starts withholding; a dose at
                    # exactly that instant is not after it, one second later is
                    if follow_label and self.rule_set == KYNAMRO:
                        self.stop_dosing(repeat.resulted)
                        follow_label = False  # now withheld: the v2 story goes on
                    if rng.random() < 0.35:
                        self.dose(repeat.resulted + SECOND * rng.randint(0, 1))
                tb, extra, confirming = None, {}, False
                t += WEEK + self.hours(-12, 12)
                m = F(f"{float(m) * rng.uniform(0.5, 0.9):.3f}")
        finals = [F("2.999"), F("2.4"), F("1.7"), F(1), F("0.8"), m or F(2)]
        if self.rule_set == FDA:
            finals.append(F(3))  # fda_dili_2009: exactly 3x ends an episode (<= 3x)
        final = rng.choice(finals)
        end = self.monitor(t, final, exact=True, full=True)
        t = end.at if end is not None else t
        if rng.random() < 0.08 and t - s > 4 * SECOND:  # refused: a resume while still open
            self.decide((s + (t - s) / 2).replace(microsecond=0), "resume_same_dose")
        if deviation == "end_instant":
            self.dose(t)  # the ending draw's instant: the episode is still open
        elif deviation == "continued":
            self.dose(t - SECOND)
        if follow_label and self.discontinued:  # kept dosing until R6 / F6
            self.stop_dosing(self.discontinued_at or t)
        if self.discontinued:  # R6: the reviewer (mostly) signs the discontinuation
            self.story.append(f"episode {how} {deviation} {timing} r6")
            if rng.random() < 0.75:
                self.decide(t if rng.random() < 0.4 else t + self.hours(2, 60), "discontinue")
                if rng.random() < 0.1:  # refused: any later resume
                    self.decide(t + WEEK + self.hours(0, 10), "resume_same_dose")
            if deviation == "after_discontinue":
                self.dose(t + DAY * rng.randint(2, 5))
            return t
        if follow_label:  # nothing was withheld: dosing simply went on
            self.story.append(f"episode {how} {deviation} {timing} followed the label")
            return t
        after = rng.choices(
            ["resume", "discontinue", "pending", "hold", "unsigned"], [50, 12, 18, 10, 10]
        )[0]
        after = force or after
        self.story.append(f"episode {how} {deviation} {timing} {after}")
        if after == "discontinue":
            self.stopped_by_decision = True
            self.decide(t if rng.random() < 0.3 else t + DAY * rng.randint(1, 5), "discontinue")
            if deviation == "after_discontinue":
                self.dose(t + DAY * rng.randint(6, 9))
            return t
        if after == "pending":  # ended, nobody decided yet: restart_pending
            return t
        if after == "hold":  # the reviewer keeps withholding after the episode ended
            w = self.decide(t + DAY * rng.randint(1, 3) + self.hours(0, 6), "withhold")
            if rng.random() < 0.4:
                self.restart(w + WEEK * rng.randint(2, 5), t)
            return t
        if after == "unsigned":  # the site re-starts before the resume is signed: R9 until then
            restart = t + DAY * rng.randint(1, 6) + self.hours(0, 8)
            self.start_dosing(restart, self.regimen)
            self.decide(restart + WEEK * rng.randint(1, 3) + self.hours(1, 8), "resume_same_dose")
            return t
        self.restart(t if rng.random() < 0.1 else None, t)
        return t

    def run_episode(self, t0: datetime) -> datetime:
        """Section 3b: an episode whose draws stay > 5x: the first (> 5x, not > 8x) exactly
        336 h, or 336 h + 1 s, before a later one (fda_dili_2009 S2 needs more than 336 h),
        sometimes broken by a draw at exactly 5x, sometimes with a draw without a peak inside;
        no other F6 sign. Returns the ending draw."""
        rng = self.rng
        # at the S3 / S4 limits, not over them
        quiet = {
            "tbil": F("0.6"),
            "inr": rng.choice([F(1), F("1.5")]),
            "eos": rng.choice([F(2), F(5)]),
        }
        m0 = rng.choice([F(6), F("5.5"), F("7.9"), F(8)])
        first = self.monitor(t0, m0, exact=True, full=True, resulted="hours", **quiet)
        if first is None:
            return t0
        t0 = first.at
        if self.rule_set != FDA:  # FDA: close observation, dosing goes on
            self.stop_dosing(first.resulted)
        self.monitor(t0 + WEEK, rng.choice([F("5.5"), F("6.4"), F(5)]), exact=True, **quiet)
        if rng.random() < 0.3:  # a draw without a peak neither breaks nor joins the run
            self.add(t0 + WEEK + DAY, [("TBIL", "x", F("0.8"), False), ("INR", "a", F(1), True)])
        t = t0 + HOURS_336 + SECOND * rng.randint(0, 1)
        self.monitor(t, rng.choice([F("5.2"), F("5.001"), F("6.3")]), exact=True, **quiet)
        if rng.random() < 0.35:  # a later draw still > 5x: more than 336 h either way
            t += WEEK
            self.monitor(t, rng.choice([F("5.1"), F(5)]), exact=True, **quiet)
        t += WEEK
        ends = [F("2.4"), F(3), F("1.1")] if self.rule_set == FDA else [F("2.4"), F("1.1")]
        end = self.monitor(t, rng.choice(ends), exact=True, full=True)
        t = end.at if end is not None else t
        self.story.append("run336")
        if self.discontinued:
            self.stop_dosing(self.discontinued_at or t)
            if rng.random() < 0.7:
                self.decide(t + self.hours(2, 40), "discontinue")
            return t
        if self.rule_set != FDA and rng.random() < 0.75:
            self.restart(None, t)
        return t

    def year_story(self):
        """Section 3b (kynamro_label R10): dosed from about a year before DEFAULT_AS_OF; the last
        draw (the R10 reference) exactly 365 days after the first dose, 1 s less, or a few days
        either side, and 32 days (or 1 s more), 60 days or 93 days (or 1 s more) before the
        evaluation time. No elevation."""
        rng = self.rng
        gap = rng.choice([32 * DAY, 32 * DAY + SECOND, 60 * DAY, 93 * DAY, 93 * DAY + SECOND])
        reference = DEFAULT_AS_OF - gap
        after = YEAR - rng.choice([timedelta(0), SECOND, 3 * DAY, -3 * DAY])
        fd = reference - after
        self.first_dose = fd
        self.enrolled = (fd - DAY * rng.randint(1, 12)).date()
        self.story.append(f"year {after} {gap}")
        self.baseline()
        self.start_dosing(fd, self.arm)
        t, weekly = fd, 4
        while True:
            t += WEEK if weekly > 0 else DAY * rng.randint(28, 31) + self.hours()
            weekly -= 1
            if t >= reference - 2 * DAY:
                break
            self.monitor(t, self.background(), lipids=rng.random() < 0.3)
        self.monitor(reference, self.base, lipids=True)  # <= 0.85x: no "peak > 1x" anywhere
        self.finish()

    def restart(self, restart, t):
        """A signed resume and a re-start after the episode that ended at t: standard subjects
        mostly re-start reduced (70 mg three times weekly)."""
        rng = self.rng
        if restart is None:
            restart = t + DAY * rng.randint(1, 6) + self.hours(0, 8)
        if self.regimen == "standard" and rng.random() < 0.7:
            action, regimen = "resume_reduced_dose", "reduced"
        else:
            action, regimen = "resume_same_dose", ""
            if rng.random() < 0.15:  # refused first: reduced -> reduced or -> standard
                bad = "standard" if self.regimen == "reduced" else self.regimen
                self.decide(restart - self.hours(26, 30), "resume_reduced_dose", bad)
        if restart == t:  # dosed at the ending draw's instant; the resume comes later
            r = t + self.hours(1, 8)
        else:
            how = rng.choices(["dose", "draw", "before"], [45, 20, 35])[0]
            if how == "dose":
                r = restart  # resume at the dose's instant: that dose is not withheld
            elif how == "draw":  # a pre-restart check, and the resume at its very instant
                check = self.monitor(restart - self.hours(2, 20), self.background())
                r = check.at if check is not None else restart
            else:
                r = restart - timedelta(minutes=rng.randint(30, 20 * 60))
        r = self.decide(r, action, regimen)
        self.last_resume = r
        self.start_dosing(restart, regimen or self.regimen)
        if rng.random() < 0.3:  # off-regimen after the re-start (e.g. 200 mg on reduced)
            self.off_regimen_dose(restart)

    # ---- output ----------------------------------------------------------------------------
    def doses(self) -> list[tuple[datetime, int, bool]]:
        """(instant, mg, write date-only) for every dose, without duplicate instants."""
        rng, out = self.rng, {}
        for start, end, regimen in self.segments:
            mg, offsets = REGIMENS[regimen]
            end = min(end or self.end, self.end)
            week = 0
            while start + WEEK * week < end:
                for off in offsets:
                    at = start + WEEK * week + DAY * off
                    date_only = week > 0 and rng.random() < 0.03
                    if date_only:
                        at = datetime.combine(at.date(), datetime.min.time(), UTC)
                    elif week > 0 or off > 0:
                        at += self.hours(-2, 2)
                    if start <= at < end:
                        out.setdefault(at, (mg, date_only))
                week += 1
        for at, mg in self.extra_doses:
            out.setdefault(at, (mg, False))
        return sorted((at, mg, d) for at, (mg, d) in out.items())


def _instant_text(rng, at: datetime, site: str, offset_fraction: float) -> str:
    r = rng.random()
    if r < offset_fraction:
        offset = SITE_OFFSET[site] if SITE_OFFSET[site] is not None else rng.choice(OTHER_OFFSETS)
        return at.astimezone(timezone(offset)).isoformat(timespec="seconds")
    if r < offset_fraction + 0.05:
        return at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return at.strftime("%Y-%m-%dT%H:%M:%S")


def _result_cells(rng, subject: _Subject, test, kind, amount, exact, si_fraction):
    if kind == "a":  # INR, EOS (section 3b): the value as given, no ULN
        text = _exact_text(amount)
        if rng.random() < 0.1 and "." not in text:
            text += ".0"
        return text, ABSOLUTE_UNITS[test], ""
    canonical, si, to_si, places_c, places_si = UNITS[test]
    use_si = rng.random() < si_fraction
    unit, factor, places = (si, to_si, places_si) if use_si else (canonical, F(1), places_c)
    if kind == "v":  # lipids: no ULN
        return _rounded_text(amount * factor, places), unit, ""
    report = subject.uln_choice.setdefault((test, unit), rng.random() < 0.45)
    uln_text = subject.uln_choice.setdefault(
        ("uln", test, unit), rng.choice(REPORTED_ULN[(test, unit)])
    )
    uln = F(uln_text) if report else DEFAULT_ULN[(test, subject.sex)] * factor
    value = amount * uln
    if exact:
        text = _exact_text(value)
        if text is None:  # e.g. 41 U/L is 0.68333.. ukat/L: report a ULN so the multiple is exact
            report, uln = True, F(uln_text)
            text = _exact_text(amount * uln)
        if rng.random() < 0.05 and "." not in text:
            text += ".0"
    else:
        text = _rounded_text(value, places)
    return text, unit, (uln_text if report else "")


SUBJECT_HEADER = [
    "subject_id",
    "site",
    "sex",
    "birth_date",
    "arm",
    "enrolled_on",
    "active_liver_disease",
]
DOSE_HEADER = ["subject_id", "administered_at", "dose_mg"]
LAB_HEADER = [
    "subject_id",
    "collected_at",
    "test",
    "value",
    "unit",
    "uln",
    "symptoms",
    "resulted_at",
]
DECISION_HEADER = ["subject_id", "signed_at", "action", "regimen", "reviewer", "reason"]
REASONS = {
    "withhold": "ALT/AST at or above 3x ULN: withhold dosing",
    "resume_same_dose": "ALT/AST back below 3x ULN: re-start at the same dose",
    "resume_reduced_dose": "ALT/AST back below 3x ULN: re-start at a reduced dose",
    "discontinue": "Discontinue treatment",
}


def generate_study(
    seed: int,
    n_subjects: int,
    *,
    si_fraction: float = 0.3,
    offset_fraction: float = 0.35,
    episode_fraction: float = 0.3,
    ald_fraction: float = 0.05,
    rule_set: str = "seed",
) -> tuple[str, str, str, str]:
    """(subjects_csv, doses_csv, labs_csv, decisions_csv) texts. rule_set: the set the study
    follows ("seed", "kynamro_label", "fda_dili_2009"); the other two plant section 3b's
    boundaries as well, and emit only decisions that set accepts."""
    if rule_set not in oracle.RULE_SETS:
        raise ValueError(f"unknown rule set {rule_set!r}")
    rng = random.Random(seed)
    opts = {"episode_fraction": episode_fraction, "ald_fraction": ald_fraction}
    if rule_set != "seed":
        opts["rule_set"] = rule_set
    subjects = []
    for index in range(1, n_subjects + 1):
        subject = _Subject(rng, index, opts)
        subject.simulate()
        subjects.append(subject)

    subject_rows, dose_rows, lab_rows, candidates = [], [], [], {}
    for s in subjects:
        ald = "true" if s.ald else rng.choice(["false", "false", ""])
        subject_rows.append(
            [s.sid, s.site, s.sex, s.birth.isoformat(), s.arm, s.enrolled.isoformat(), ald]
        )
        for at, mg, date_only in s.doses():
            text = (
                at.date().isoformat()
                if date_only
                else _instant_text(rng, at, s.site, offset_fraction)
            )
            mg_text = str(mg) + (rng.choice([".0", ".00"]) if rng.random() < 0.03 else "")
            dose_rows.append([s.sid, text, mg_text])
        for draw in s.draws:
            flagged = rng.randrange(len(draw.results)) if draw.symptoms else -1
            resulted = (
                _instant_text(rng, draw.resulted, s.site, offset_fraction)
                if draw.show_resulted
                else ""
            )
            for n, (test, kind, amount, exact) in enumerate(draw.results):
                value, unit, uln = _result_cells(rng, s, test, kind, amount, exact, si_fraction)
                symptoms = "true" if n == flagged else rng.choice(["false", ""])
                collected = _instant_text(rng, draw.at, s.site, offset_fraction)
                lab_rows.append([s.sid, collected, test, value, unit, uln, symptoms, resulted])
        candidates[s.sid] = [
            [s.sid, _instant_text(rng, at, s.site, offset_fraction), action, regimen]
            for at, action, regimen in sorted(s.decisions)
        ]

    # Keep only the decisions the app accepts, checked in signed_at order like an import.
    study = oracle.load_study(
        _csv(SUBJECT_HEADER, subject_rows), _csv(DOSE_HEADER, dose_rows), _csv(LAB_HEADER, lab_rows)
    )
    decision_rows = []
    for sid, rows in candidates.items():
        subject = study[sid]
        facts = oracle.scan(subject, rule_set)
        decisions = [_decision(row) for row in rows]
        by_decision = {id(d): row for d, row in zip(decisions, rows, strict=True)}
        if rule_set != "seed":
            decisions = [d for d in decisions if not _in_unheld_gap(facts, d)]
        accepted, _refused = oracle.accepted_decisions(subject, facts, decisions)
        decision_rows += [by_decision[id(d)] + ["dr_reviewer", REASONS[d.action]] for d in accepted]
        # AMBIGUOUS (kept out of the data): a dose at exactly the discontinuation instant of a
        # subject already withheld then. Drop such doses so the reading never matters.
        stop = oracle.discontinued_from(facts, accepted)
        if stop is not None:
            dose_rows = [
                row
                for row in dose_rows
                if row[0] != sid
                or oracle.parse_instant(row[1]) != stop
                or not oracle.dose_withheld(facts, accepted, None, stop)
            ]
    for rows in (subject_rows, dose_rows, lab_rows, decision_rows):
        rng.shuffle(rows)
    return (
        _csv(SUBJECT_HEADER, subject_rows),
        _csv(DOSE_HEADER, dose_rows),
        _csv(LAB_HEADER, lab_rows),
        _csv(DECISION_HEADER, decision_rows),
    )


def _in_unheld_gap(facts, decision) -> bool:
    """A resume between the collection and the result (both included) of an episode's first
    draw when that draw starts no withholding (K3, FDA): whether the episode is "open" then is
    ambiguous (tests/oracle.py any_episode_open_at), so the generator never plants one."""
    return decision.action in oracle.RESUMES and any(
        (facts.rule_set == FDA or e.first.peak < 5)
        and e.first.at <= decision.at <= e.first.resulted
        for e in facts.episodes
    )


def _decision(row) -> oracle.Decision:
    return oracle.Decision(oracle.parse_instant(row[1]), row[2], row[3] or None)


def _csv(header, rows) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def write_study(directory, seed: int, n_subjects: int, **options) -> tuple[Path, Path, Path, Path]:
    """Write subjects.csv, doses.csv, labs.csv and decisions.csv; returns the four paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    names = ("subjects.csv", "doses.csv", "labs.csv", "decisions.csv")
    paths = tuple(directory / name for name in names)
    for path, text in zip(paths, generate_study(seed, n_subjects, **options), strict=True):
        path.write_text(text, encoding="utf-8")
    return paths
