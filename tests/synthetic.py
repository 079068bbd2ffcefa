"""Synthetic mipomersen study generator that stresses the rule table (DESIGN.md 3 and 5).

    subjects_csv, doses_csv, labs_csv = generate_study(seed, n_subjects)
    write_study(directory, seed, n_subjects)  # subjects.csv, doses.csv, labs.csv

Deterministic for a seed (one random.Random(seed), no set iteration, no clock). Every event is
dated before DEFAULT_AS_OF; evaluate at DEFAULT_AS_OF to hit the time-rule boundaries it plants
(a subject whose episode started exactly 7 days before it, a last draw exactly 9 days before it).

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
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path

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
ARMS = {"standard": (200, (0,)), "reduced": (70, (0, 2, 4))}  # mg, weekday offsets

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


class _Subject:
    def __init__(self, rng: random.Random, index: int, opts: dict):
        self.rng, self.opts = rng, opts
        self.site = rng.choice(SITES)
        self.sid = f"{self.site}-{index:04d}"
        self.sex = rng.choice("MF")
        self.arm = "standard" if rng.random() < 0.5 else "reduced"
        self.birth = date(1950, 1, 1) + timedelta(days=rng.randint(0, 52 * 365))
        late = rng.random() < 0.15
        offset_days = rng.randint(250, 300) if late else rng.randint(0, 240)
        self.enrolled = (STUDY_START + DAY * offset_days).date()
        self.ald = rng.random() < opts["ald_fraction"]
        self.gilbert = rng.random() < 0.04
        self.discontinued = False
        self.draws: list[_Draw] = []
        self.segments: list[list] = []  # [start, end or None, regimen]
        self.extra_doses: list[datetime] = []
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

    def add(self, at, results, symptoms=False):
        while any(d.at == at for d in self.draws):  # two planned draws never merge by accident
            at += timedelta(minutes=1)
        if at < self.end and results:
            self.draws.append(_Draw(at, results, symptoms))

    def monitor(self, at, m, *, exact=False, full=False, tbil=None, symptoms=False, lipids=False):
        """An ALT/AST draw whose peak is m (exactly, when exact)."""
        rng = self.rng
        other = F(f"{float(m) * rng.uniform(0.45, 0.9):.3f}")
        lead, follow = ("AST", "ALT") if rng.random() < 0.15 else ("ALT", "AST")
        results = [(lead, "x", m, exact)]
        if rng.random() > 0.08 or exact:
            results.append((follow, "x", other, False))
        if full or rng.random() < 0.2:
            results.append(("ALP", "x", F(f"{rng.uniform(0.3, 0.95):.3f}"), False))
            if tbil is None:
                tbil = F(f"{rng.uniform(1.3, 2.6) if self.gilbert else rng.uniform(0.2, 0.9):.3f}")
        if tbil is not None:
            results.append(("TBIL", "x", tbil, True))
        if lipids:
            results += self.lipids(at)
        if m < 3:  # symptoms without a 3x rise: no discontinue
            symptoms = symptoms or rng.random() < 0.02
        elif symptoms or self.ald or (tbil is not None and tbil >= 2):
            self.discontinued = True  # the site follows R6 and never restarts dosing
        self.add(at, results, symptoms)

    def background(self) -> Fraction:
        return F(f"{float(self.base) * self.rng.uniform(0.8, 1.2):.3f}")

    def start_dosing(self, at, regimen):
        self.stop_dosing(at)
        self.segments.append([at, None, regimen])

    def stop_dosing(self, at):
        if self.segments and self.segments[-1][1] is None:
            self.segments[-1][1] = at

    def dose(self, at):
        if at < self.end:
            self.extra_doses.append(at)

    # ---- the story of one subject ----------------------------------------------------------
    def simulate(self):
        rng, fd = self.rng, self.first_dose
        self.baseline()
        if fd is None:
            return
        self.start_dosing(fd, self.arm)
        plan = rng.random()
        episodes = 0
        if plan < self.opts["episode_fraction"]:
            episodes = 2 if rng.random() < 0.2 else 1
        mild = self.opts["episode_fraction"] <= plan < self.opts["episode_fraction"] + 0.2
        onset = rng.randint(1, 8)
        special = rng.choices(
            ["", "r7_edge", "r10_edge", "r10_28d", "lapse", "withdrawn"], [70, 5, 6, 4, 8, 7]
        )[0]
        if special in ("r7_edge", "r10_edge", "r10_28d"):
            episodes = 0  # keep the planted boundary the last draw with a peak
        labs_end = DEFAULT_AS_OF
        if special in ("lapse", "withdrawn"):
            labs_end = fd + DAY * rng.randint(20, 200)
            if special == "withdrawn":
                self.end = labs_end
        edge = DEFAULT_AS_OF - (WEEK if special == "r7_edge" else WEEK + 2 * DAY)
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
                    self.monitor(edge, F(3) + F(rng.randint(0, 20), 10), exact=True, full=True)
                    self.stop_dosing(edge)
                else:  # last draw with a peak > 1x: 7-day interval, +2 days grace
                    self.monitor(edge, F("1.5"), exact=True)
                return self.finish(labs_only=True)
            if t >= min(labs_end, self.end):
                break
            if episodes and i >= onset:
                t = self.episode(t)
                episodes -= 1
                onset = i + rng.randint(3, 8)
                weekly = 4
            else:
                m, exact = self.background(), False
                if mild and rng.random() < 0.3:
                    m = rng.choice([F(1), F("1.001"), F("1.5"), F("2.2"), F("2.999"), F("1.8")])
                    weekly, exact = max(weekly, 3), True
                self.monitor(t, m, exact=exact, lipids=rng.random() < 0.1)
                if rng.random() < 0.08:  # a lipid-only draw a little later
                    self.add(t + DAY * rng.randint(1, 3) + self.hours(), self.lipids(t))
            weekly -= 1
            i += 1
        self.finish()

    def finish(self, labs_only=False):
        if not labs_only:
            self.stop_dosing(self.end)

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
        if kind == "elevated":  # pre-dose elevation: 1-3x (R2) or >= 3x then a re-screen
            high = rng.choice([F("1.6"), F("3.2"), F(3)])
            if self.ald or tbil >= 2:  # keep R6 (and a flood of R9) off the baseline
                high = F("1.6")
            results[0] = ("ALT", "x", high, True)
            self.add(at, results)
            if high >= 3 and self.first_dose and rng.random() < 0.6:  # re-screen: ends it
                middle = at + timedelta(minutes=(self.first_dose - at) // timedelta(minutes=2))
                self.monitor(middle, F("1.2"), exact=True, full=True)
            return
        self.add(at, results)

    def episode(self, t0: datetime) -> datetime:
        """An elevation >= 3x at t0, withholding, repeats, resolution; returns the last draw."""
        rng = self.rng
        m0 = rng.choice([F(3), F(3), F("3.4"), F("4.2"), F(5), F("6.1"), F("8.7")])
        hy = rng.random() < 0.15
        hy_on_onset = rng.random() < 0.6
        tbil_hy = rng.choice([F(2), F("2.6"), F("3.1")])
        tbil0 = tbil_hy if hy and hy_on_onset else rng.choice([F("1.999"), F("0.7"), F("0.5")])
        symptoms = rng.random() < 0.08
        self.monitor(t0, m0, exact=True, full=True, tbil=tbil0, symptoms=symptoms)
        self.stop_dosing(t0)
        deviation = rng.choices(
            ["", "same_instant", "one_second", "continued", "end_instant", "after_discontinue"],
            [50, 10, 10, 12, 10, 8],
        )[0]
        if deviation == "same_instant":
            self.dose(t0)
        elif deviation == "one_second":
            self.dose(t0 + SECOND)
        elif deviation == "continued":
            self.dose(t0 + 2 * DAY + self.hours(0, 5))
        timing = rng.choices(["exact7", "plus1s", "early", "late", "lost"], [20, 15, 35, 20, 10])[0]
        delay = {
            "exact7": WEEK,
            "plus1s": WEEK + SECOND,
            "early": DAY * rng.randint(2, 6) + self.hours(0, 12),
            "late": DAY * rng.randint(8, 21) + self.hours(0, 12),
            "lost": DAY * rng.randint(25, 45),
        }[timing]
        if rng.random() < 0.15:  # a draw without a peak inside the episode ends nothing
            self.add(t0 + DAY, [("TBIL", "x", F("0.8"), False)] + self.lipids(t0))
        t, m = t0 + delay, None
        if rng.random() < 0.5:  # confirmed, then weekly repeats until it falls below 3x
            m = rng.choice([F(3), F("3.6"), F("4.4"), F(5), F("7.2")])
            tb = tbil_hy if hy and not hy_on_onset else None
            while m >= 3:
                self.monitor(t, m, exact=True, full=True, tbil=tb)
                tb = None
                t += WEEK + self.hours(-12, 12)
                m = F(f"{float(m) * rng.uniform(0.5, 0.9):.3f}")
        final = rng.choice([F("2.999"), F("2.4"), F("1.7"), F(1), F("0.8"), m or F(2)])
        self.monitor(t, final, exact=True, full=True)
        if deviation == "end_instant":
            self.dose(t)
        elif deviation == "continued":
            self.dose(t - SECOND)
        if self.discontinued or rng.random() < 0.15:  # discontinued
            if deviation == "after_discontinue":
                self.dose(t + DAY * rng.randint(2, 5))
            return t
        restart = t if rng.random() < 0.2 else t + DAY * rng.randint(1, 6) + self.hours(0, 8)
        self.start_dosing(restart, "reduced" if rng.random() < 0.7 else self.arm)
        return t

    # ---- output ----------------------------------------------------------------------------
    def doses(self) -> list[tuple[datetime, int, bool]]:
        """(instant, mg, write date-only) for every dose, without duplicate instants."""
        rng, out = self.rng, {}
        for start, end, regimen in self.segments:
            mg, offsets = ARMS[regimen]
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
        for at in self.extra_doses:
            mg = ARMS[self.arm][0]
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


def generate_study(
    seed: int,
    n_subjects: int,
    *,
    si_fraction: float = 0.3,
    offset_fraction: float = 0.35,
    episode_fraction: float = 0.3,
    ald_fraction: float = 0.05,
) -> tuple[str, str, str]:
    rng = random.Random(seed)
    opts = {"episode_fraction": episode_fraction, "ald_fraction": ald_fraction}
    subjects = []
    for index in range(1, n_subjects + 1):
        subject = _Subject(rng, index, opts)
        subject.simulate()
        subjects.append(subject)

    subject_rows, dose_rows, lab_rows = [], [], []
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
            dose_rows.append([s.sid, text, str(mg)])
        for draw in s.draws:
            flagged = rng.randrange(len(draw.results)) if draw.symptoms else -1
            for n, (test, kind, amount, exact) in enumerate(draw.results):
                value, unit, uln = _result_cells(rng, s, test, kind, amount, exact, si_fraction)
                symptoms = "true" if n == flagged else rng.choice(["false", ""])
                lab_rows.append(
                    [
                        s.sid,
                        _instant_text(rng, draw.at, s.site, offset_fraction),
                        test,
                        value,
                        unit,
                        uln,
                        symptoms,
                    ]
                )
    for rows in (subject_rows, dose_rows, lab_rows):
        rng.shuffle(rows)
    return (
        _csv(
            [
                "subject_id",
                "site",
                "sex",
                "birth_date",
                "arm",
                "enrolled_on",
                "active_liver_disease",
            ],
            subject_rows,
        ),
        _csv(["subject_id", "administered_at", "dose_mg"], dose_rows),
        _csv(["subject_id", "collected_at", "test", "value", "unit", "uln", "symptoms"], lab_rows),
    )


def _csv(header, rows) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def write_study(directory, seed: int, n_subjects: int, **options) -> tuple[Path, Path, Path]:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = tuple(directory / name for name in ("subjects.csv", "doses.csv", "labs.csv"))
    for path, text in zip(paths, generate_study(seed, n_subjects, **options), strict=True):
        path.write_text(text, encoding="utf-8")
    return paths
