"""Study analysis: eDISH peaks and Hy's law quadrants, the R ratio pattern, and the arm
comparison (incidence of ALT or AST ≥ 3× ULN, mean % change of LDL-C and ApoB).

The functions above "reading" are pure: plain subjects in, numbers out; the intervals come from
scipy and statsmodels (intervals.py), the published figures beside them from published.py.
Definitions (shown on the study report page, so readers know what they read):

- On treatment: a draw collected after the subject's first dose. eDISH peaks and incidence use
  on-treatment draws only, so an abnormal baseline is not counted as drug-induced.
- eDISH: peak ALT-or-AST ×ULN (the largest of either, over all on-treatment draws) against peak
  TBIL ×ULN (over the same draws: the two peaks may come from different draws). Thresholds are
  inclusive and exact, like the rules: 3.0× ALT/AST and 2.0× TBIL put a subject in the potential
  Hy's law quadrant.
- R ratio: (ALT/ULN) / (ALP/ULN) in the on-treatment draw with the highest ALT ×ULN. The pattern
  is named only when that draw shows liver injury (ALT ≥ 3× or ALP ≥ 2× ULN): hepatocellular
  R ≥ 5, mixed 2 < R < 5, cholestatic R ≤ 2.
- Incidence: subjects with an on-treatment draw whose ALT or AST is ≥ 3× ULN, among the arm's
  subjects with at least one on-treatment ALT/AST (Wilson 95% CI; the difference between arms
  with Newcombe's hybrid score 95% CI).
- Lipids: baseline is the latest value on or before the first dose (DESIGN section 3); the
  follow-up value is the subject's last value on treatment, i.e. after the first dose and at most
  14 days after the last dose. Mean of per-subject % changes with a t-based 95% CI.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from statistics import fmean

from monitoring import rules
from monitoring.presentation import ANALYTE_LABELS
from monitoring.reports.intervals import Interval, MeanCI, mean_ci, newcombe, wilson

ALT_AST_LIMIT = Fraction(3)
TBIL_LIMIT = Fraction(2)
ALP_INJURY = Fraction(2)
ON_TREATMENT_GRACE = timedelta(days=14)
LIPIDS = tuple((code, ANALYTE_LABELS[code]) for code in ("LDLC", "APOB"))

HYS_LAW = "hys_law"
TEMPLE = "temple"
HYPERBILIRUBINEMIA = "hyperbilirubinemia"
NORMAL = "normal"
NO_TBIL = "no_tbil"
QUADRANTS = {
    HYS_LAW: "Potential Hy's law (ALT/AST ≥ 3×, TBIL ≥ 2×)",
    TEMPLE: "Temple's corollary (ALT/AST ≥ 3×, TBIL < 2×)",
    HYPERBILIRUBINEMIA: "Hyperbilirubinaemia (ALT/AST < 3×, TBIL ≥ 2×)",
    NORMAL: "Normal range (ALT/AST < 3×, TBIL < 2×)",
    NO_TBIL: "No on-treatment bilirubin",
}
QUADRANT_SHORT = {
    HYS_LAW: "Potential Hy's law",
    TEMPLE: "Temple's corollary",
    HYPERBILIRUBINEMIA: "Hyperbilirubinaemia",
    NORMAL: "Normal range",
    NO_TBIL: "No bilirubin",
}

HEPATOCELLULAR = "hepatocellular"
MIXED = "mixed"
CHOLESTATIC = "cholestatic"


# ---- input --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubjectData:
    """What the analysis needs of one subject: its arm, first and last dose, and its draws
    (rules.Draw, exact canonical values and ULNs)."""

    key: object
    subject_id: str
    arm: str
    draws: tuple = ()
    first_dose_at: datetime | None = None
    last_dose_at: datetime | None = None
    site: str = ""

    def on_treatment(self):
        if self.first_dose_at is None:
            return []
        return [d for d in self.draws if d.collected_at > self.first_dose_at]


# ---- eDISH and R ratio --------------------------------------------------------------------


@dataclass(frozen=True)
class Peak:
    multiple: Fraction
    analyte: str
    at: datetime


@dataclass(frozen=True)
class EdishPoint:
    subject: SubjectData
    transaminase: Peak | None  # peak ALT or AST ×ULN
    tbil: Peak | None  # peak TBIL ×ULN, possibly from another draw
    quadrant: str
    r_ratio: Fraction | None
    r_at: datetime | None
    pattern: str | None  # hepatocellular / mixed / cholestatic; None without liver injury
    r_note: str = ""

    @property
    def quadrant_label(self):
        return QUADRANTS[self.quadrant]

    @property
    def quadrant_short(self):
        return QUADRANT_SHORT[self.quadrant]

    @property
    def different_draws(self):
        return bool(self.transaminase and self.tbil and self.transaminase.at != self.tbil.at)


def _peak(draws, analytes):
    best = None
    for draw in draws:
        for analyte in analytes:
            result = draw.result(analyte)
            if result is None or result.multiple is None:
                continue
            if best is None or result.multiple > best.multiple:
                best = Peak(result.multiple, analyte, draw.collected_at)
    return best


def quadrant(transaminase: Fraction, tbil: Fraction | None) -> str:
    if tbil is None:
        return NO_TBIL
    high_enzyme = transaminase >= ALT_AST_LIMIT
    high_tbil = tbil >= TBIL_LIMIT
    if high_enzyme and high_tbil:
        return HYS_LAW
    if high_enzyme:
        return TEMPLE
    if high_tbil:
        return HYPERBILIRUBINEMIA
    return NORMAL


def injury_pattern(r: Fraction) -> str:
    if r >= 5:
        return HEPATOCELLULAR
    if r > 2:
        return MIXED
    return CHOLESTATIC


def r_ratio(draws):
    """(R, collected_at, pattern, note) at the on-treatment draw with the highest ALT ×ULN."""
    alt_draws = [
        d for d in draws if d.result("ALT") is not None and d.result("ALT").multiple is not None
    ]
    if not alt_draws:
        return None, None, None, "no on-treatment ALT"
    draw = max(alt_draws, key=lambda d: (d.result("ALT").multiple, d.collected_at))
    alt = draw.result("ALT").multiple
    alp_result = draw.result("ALP")
    if alp_result is None or not alp_result.multiple:
        return None, draw.collected_at, None, "no ALP in the peak ALT draw"
    alp = alp_result.multiple
    r = alt / alp
    if alt >= ALT_AST_LIMIT or alp >= ALP_INJURY:
        return r, draw.collected_at, injury_pattern(r), ""
    return r, draw.collected_at, None, "no liver injury (ALT < 3×, ALP < 2× ULN)"


def edish(subjects) -> list[EdishPoint]:
    """One point per subject with an on-treatment ALT or AST ×ULN, most severe first."""
    points = []
    for subject in subjects:
        draws = subject.on_treatment()
        enzyme = _peak(draws, ("ALT", "AST"))
        if enzyme is None:
            continue
        tbil = _peak(draws, ("TBIL",))
        r, r_at, pattern, note = r_ratio(draws)
        points.append(
            EdishPoint(
                subject,
                enzyme,
                tbil,
                quadrant(enzyme.multiple, tbil.multiple if tbil else None),
                r,
                r_at,
                pattern,
                note,
            )
        )
    order = list(QUADRANTS)
    points.sort(
        key=lambda p: (order.index(p.quadrant), -p.transaminase.multiple, p.subject.subject_id)
    )
    return points


def by_quadrant(points):
    """{quadrant: [points]} in the order of QUADRANTS, every quadrant present."""
    groups = {q: [] for q in QUADRANTS}
    for point in points:
        groups[point.quadrant].append(point)
    return groups


# ---- arm comparison -----------------------------------------------------------------------


@dataclass(frozen=True)
class Incidence:
    events: int
    n: int
    ci: Interval | None
    subject_ids: tuple = ()

    @property
    def proportion(self):
        return self.events / self.n if self.n else None


@dataclass(frozen=True)
class LipidChange:
    analyte: str
    label: str
    summary: MeanCI
    changes: tuple = ()  # (subject_id, baseline, follow-up, % change, days after first dose)

    @property
    def mean_days(self):
        return fmean(c[4] for c in self.changes) if self.changes else None


@dataclass(frozen=True)
class ArmResult:
    arm: str
    subjects: int
    treated: int
    incidence: Incidence
    lipids: dict = field(default_factory=dict)  # analyte -> LipidChange


@dataclass(frozen=True)
class Difference:
    first: str
    second: str
    difference: float | None
    ci: Interval | None


def elevated(subject: SubjectData) -> bool | None:
    """Whether an on-treatment draw had ALT or AST ≥ 3× ULN; None with no on-treatment ALT/AST."""
    peaks = [p for d in subject.on_treatment() if (p := d.peak()) is not None]
    if not peaks:
        return None
    return any(multiple >= ALT_AST_LIMIT for multiple, _ in peaks)


def incidence(subjects) -> Incidence:
    flags = [(s, elevated(s)) for s in subjects]
    evaluable = [(s, f) for s, f in flags if f is not None]
    events = [s.subject_id for s, f in evaluable if f]
    return Incidence(
        len(events), len(evaluable), wilson(len(events), len(evaluable)), tuple(events)
    )


def lipid_change(subject: SubjectData, analyte: str):
    """(baseline, follow-up, % change, days after first dose) or None."""
    if subject.first_dose_at is None:
        return None
    baseline = follow = None
    end = subject.last_dose_at + ON_TREATMENT_GRACE
    for draw in sorted(subject.draws, key=lambda d: d.collected_at):
        result = draw.result(analyte)
        if result is None:
            continue
        if draw.collected_at <= subject.first_dose_at:
            baseline = result.value
        elif draw.collected_at <= end:
            follow = (result.value, draw.collected_at)
    if baseline is None or follow is None or baseline == 0:
        return None
    value, at = follow
    percent = (value - baseline) / baseline * 100
    days = (at - subject.first_dose_at).total_seconds() / 86400
    return baseline, value, percent, days


def lipid_summary(subjects, analyte, label) -> LipidChange:
    rows = []
    for subject in subjects:
        change = lipid_change(subject, analyte)
        if change is not None:
            rows.append((subject.subject_id, *change))
    return LipidChange(analyte, label, mean_ci(r[3] for r in rows), tuple(rows))


def compare_arms(subjects, arm_order=None):
    """Per arm: subjects, treated, incidence and lipid changes; and the differences in incidence
    between each pair of arms (first listed minus second)."""
    arms = {}
    for subject in subjects:
        arms.setdefault(subject.arm, []).append(subject)
    names = [a for a in (arm_order or sorted(arms)) if a in arms]
    results = []
    for arm in names:
        members = arms[arm]
        results.append(
            ArmResult(
                arm=arm,
                subjects=len(members),
                treated=sum(1 for s in members if s.first_dose_at is not None),
                incidence=incidence(members),
                lipids={a: lipid_summary(members, a, label) for a, label in LIPIDS},
            )
        )
    differences = []
    for i, first in enumerate(results):
        for second in results[i + 1 :]:
            a, b = first.incidence, second.incidence
            diff = (
                a.proportion - b.proportion
                if a.proportion is not None and b.proportion is not None
                else None
            )
            differences.append(
                Difference(first.arm, second.arm, diff, newcombe(a.events, a.n, b.events, b.n))
            )
    return results, differences


# ---- reading (ORM) ------------------------------------------------------------------------


def load_subjects(subjects_qs) -> list[SubjectData]:
    """SubjectData for a queryset of subjects, in a handful of queries."""
    from django.db.models import Max, Min

    from monitoring.evaluation.loader import result_for_rules
    from monitoring.models import LabDraw, LabResult
    from subjects.models import Dose

    info = list(
        subjects_qs.values_list("pk", "subject_id", "arm__name", "site__code").order_by(
            "subject_id"
        )
    )
    pks = [row[0] for row in info]
    results = {}
    for draw_id, *fields in LabResult.objects.filter(draw__subject_id__in=pks).values_list(
        "draw_id", "analyte", "value", "unit", "reported_uln", "uln"
    ):
        results.setdefault(draw_id, []).append(result_for_rules(*fields))
    draws = {}
    for pk, subject_pk, collected_at, symptoms in (
        LabDraw.objects.filter(subject_id__in=pks)
        .order_by("collected_at")
        .values_list("pk", "subject_id", "collected_at", "symptoms_of_liver_injury")
    ):
        draws.setdefault(subject_pk, []).append(
            rules.Draw(pk, collected_at, tuple(results.get(pk, ())), symptoms)
        )
    doses = {
        row["subject_id"]: (row["first"], row["last"])
        for row in Dose.objects.filter(subject_id__in=pks)
        .values("subject_id")
        .annotate(first=Min("administered_at"), last=Max("administered_at"))
    }
    return [
        SubjectData(
            key=pk,
            subject_id=subject_id,
            arm=arm,
            draws=tuple(draws.get(pk, ())),
            first_dose_at=doses.get(pk, (None, None))[0],
            last_dose_at=doses.get(pk, (None, None))[1],
            site=site,
        )
        for pk, subject_id, arm, site in info
    ]
