"""The monitoring records: reference ranges, lab draws and results, safety states, alerts and
decisions, each with its audit history.

Over 400 lines on purpose: Django finds an app's models in one module, and the records read
best together, each beside its constraints and history, as healthchecks' hc/api/models.py."""

from datetime import timedelta
from functools import lru_cache

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from monitoring import ctcae, rules, units
from subjects.models import Dose, Regimen, Subject

ANALYTE_CHOICES = [(code, code) for code in units.ANALYTES]
SEVERITY_CHOICES = [(s, s.capitalize()) for s in rules.SEVERITY_ORDER]
KIND_CHOICES = [(r.kind, r.label) for r in rules.RULES]
STATE_CHOICES = [
    (rules.DOSING, "Dosing"),
    (rules.MONITORING, "Weekly monitoring"),
    (rules.CLOSE_OBSERVATION, "Close observation"),
    (rules.RESTART_PENDING, "Withheld — re-start decision needed"),
    (rules.WITHHELD, "Withheld"),
    (rules.DISCONTINUED, "Discontinued"),
]


class ReferenceRange(models.Model):
    """A laboratory's upper limit of normal for an analyte, sex and age band."""

    class Sex(models.TextChoices):
        ANY = "", "Any"
        MALE = "M", "Male"
        FEMALE = "F", "Female"

    analyte = models.CharField(max_length=8, choices=ANALYTE_CHOICES)
    sex = models.CharField(max_length=1, choices=Sex.choices, blank=True, default="")
    age_min = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Years, inclusive")
    age_max = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Years, inclusive")
    uln = models.DecimalField("ULN", max_digits=12, decimal_places=4)
    unit = models.CharField(max_length=12)
    valid_from = models.DateField()

    class Meta:
        ordering = ["analyte", "sex", "age_min", "-valid_from"]

    def __str__(self):
        sex = self.sex or "any sex"
        return f"{self.analyte} {sex} ULN {self.uln} {self.unit} from {self.valid_from}"

    def as_spec(self) -> units.RangeSpec:
        return units.RangeSpec(
            self.analyte, self.sex, self.age_min, self.age_max, self.uln, self.unit, self.valid_from
        )


class LabDraw(models.Model):
    """One blood draw: several results collected at one time."""

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="draws")
    collected_at = models.DateTimeField()
    resulted_at = models.DateTimeField(
        help_text="When the results were known: the lab's report time, else when they were "
        "entered; for imports without it, the collection time. Withholding starts here."
    )
    lab_name = models.CharField(max_length=120, blank=True)
    symptoms_of_liver_injury = models.BooleanField(default=False)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    entered_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subject", "collected_at"], name="unique_draw_time")
        ]
        indexes = [models.Index(fields=["-entered_at"], name="draw_entered_at_idx")]
        ordering = ["collected_at"]

    def __str__(self):
        return f"{self.subject} draw {self.collected_at:%Y-%m-%d %H:%M}"


class Measures:
    """What a stored result means, from its analyte, value, unit, reported ULN and ULN: for the
    model and for the plain rows a page reads (selectors.subject_pages.ResultValues)."""

    __slots__ = ()

    @property
    def canonical_unit(self):
        return units.ANALYTES[self.analyte].canonical_unit

    def exact_value(self):
        return units.to_canonical(self.analyte, self.value, self.unit)

    def exact_uln(self):
        return units.exact_uln(self.analyte, self.unit, self.reported_uln, self.uln)

    def exact_multiple(self):
        """The exact ×ULN (a Fraction), or None without a ULN. `uln_multiple` is its stored,
        rounded copy for sorting and filtering; every page, export and SDTM file shows this."""
        return exact_multiple(self.analyte, self.value, self.unit, self.reported_uln, self.uln)

    def ctcae_grade(self):
        """The CTCAE v5 grade (0-4) of this result, or None for a test without one."""
        return ctcae_grade(self.analyte, self.value, self.unit, self.reported_uln, self.uln)


class LabResult(Measures, models.Model):
    """A value as entered, and the same in the canonical unit with its ULN and multiple."""

    ULN_SOURCES = [
        ("reported", "Reported"),
        ("reference", "Reference range"),
        ("default", "Default"),
    ]

    draw = models.ForeignKey(LabDraw, on_delete=models.CASCADE, related_name="results")
    analyte = models.CharField(max_length=8, choices=ANALYTE_CHOICES)
    value = models.DecimalField(max_digits=24, decimal_places=12)
    unit = models.CharField(max_length=12)
    reported_uln = models.DecimalField(
        "reported ULN", max_digits=24, decimal_places=12, null=True, blank=True
    )
    value_canonical = models.DecimalField(max_digits=24, decimal_places=12)
    uln = models.DecimalField(
        "ULN", max_digits=24, decimal_places=12, null=True, blank=True, help_text="Canonical unit"
    )
    uln_source = models.CharField(max_length=10, choices=ULN_SOURCES, blank=True)
    uln_multiple = models.DecimalField("×ULN", max_digits=18, decimal_places=6, null=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["draw", "analyte"], name="unique_result_analyte")
        ]
        ordering = ["draw", "analyte"]

    def __str__(self):
        return f"{self.analyte} {self.value} {self.unit}"


# A subject's values and ULNs repeat from draw to draw, and exact arithmetic is the cost.
@lru_cache(maxsize=8192)
def exact_multiple(analyte, value, unit, reported_uln, uln):
    exact_uln = units.exact_uln(analyte, unit, reported_uln, uln)
    return units.to_canonical(analyte, value, unit) / exact_uln if exact_uln else None


@lru_cache(maxsize=8192)
def ctcae_grade(analyte, value, unit, reported_uln, uln):
    return ctcae.grade(analyte, exact_multiple(analyte, value, unit, reported_uln, uln))


class SubjectSafetyState(models.Model):
    """Where a subject stands, and whether its latest data has been evaluated.

    `data_version` grows with every write to the subject's safety data; an evaluation records
    the version it saw, so the sweep finds any subject whose data is newer than its evaluation.
    """

    subject = models.OneToOneField(Subject, on_delete=models.CASCADE, related_name="safety")
    state = models.CharField(max_length=20, choices=STATE_CHOICES, default=rules.DOSING)
    regimen = models.ForeignKey(
        Regimen,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The regimen in force at the end of the subject's history.",
    )
    regimen_since = models.DateTimeField(
        null=True, blank=True, help_text="When a signed re-start put that regimen in force."
    )
    data_version = models.PositiveIntegerField(default=1)
    evaluated_version = models.PositiveIntegerField(default=0)
    data_changed_at = models.DateTimeField(null=True, blank=True)
    evaluated_at = models.DateTimeField(null=True, blank=True)
    evaluated_as_of = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["state"])]

    def __str__(self):
        return f"{self.subject}: {self.get_state_display()}"

    @property
    def pending(self):
        return self.evaluated_version < self.data_version


class Alert(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"
        RETRACTED = "retracted", "Retracted"

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="alerts")
    kind = models.CharField(max_length=32, choices=KIND_CHOICES)
    rule = models.CharField(max_length=4)
    severity = models.CharField(max_length=10, choices=SEVERITY_CHOICES)
    severity_rank = models.PositiveSmallIntegerField(help_text="0 = critical, for sorting")
    draw = models.ForeignKey(
        LabDraw, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    dose = models.ForeignKey(
        Dose, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    triggered_at = models.DateTimeField(help_text="When the triggering draw or dose happened")
    opened_at = models.DateTimeField()
    opened_as_of = models.DateTimeField(help_text="Evaluation time that first raised it")
    due_by = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    status_reason = models.TextField(blank=True)
    closed_by_rules = models.BooleanField(
        default=False, help_text="Retracted or resolved by re-evaluation, not by a reviewer"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    case_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="For an episode's alerts (R3, R4, R5, R7, R8): the collection time of the "
        "episode's first draw, which names its case.",
    )
    rule_set = models.CharField(max_length=40, default=rules.DEFAULT_RULE_SET.name)
    rule_set_version = models.CharField(max_length=40, default=rules.DEFAULT_RULE_SET.version)
    explanation = models.TextField()
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subject", "kind", "triggered_at"], name="unique_alert_identity"
            )
        ]
        indexes = [
            models.Index(fields=["status", "severity_rank", "due_by"]),
            models.Index(fields=["subject", "status"]),
            models.Index(fields=["subject", "case_at"]),
            # The active alerts by due date: the dashboard's overdue list reads its first 20
            # in this order (8.5 ms -> 0.5 ms at 40,809 alerts).
            models.Index(
                fields=["due_by"],
                condition=models.Q(status__in=["open", "acknowledged"]),
                name="alert_active_due_idx",
            ),
        ]
        ordering = ["severity_rank", "due_by", "-triggered_at"]

    def __str__(self):
        return f"{self.rule} {self.kind} for {self.subject}"

    @property
    def rule_definition(self):
        """The rule as the set that raised this alert defines it."""
        rule_set = rules.RULE_SETS.get(self.rule_set)
        if rule_set is not None and rule_set.has(self.kind):
            return rule_set.rule(self.kind)
        return rules.RULE_BY_KIND[self.kind]

    @property
    def is_active(self):
        return self.status in (self.Status.OPEN, self.Status.ACKNOWLEDGED)


class Decision(models.Model):
    """A safety reviewer's signed decision on a subject, answering one or more of its alerts.

    Signed in the app (password re-entered), or `transcribed` by staff from a paper or earlier
    system's record naming the original reviewer (not an e-signature). A decision is never
    edited: a later signed decision that names it in `replaces` amends it; both stay on record.
    """

    class Action(models.TextChoices):
        WITHHOLD = rules.WITHHOLD, "Withhold dosing"
        CONFIRM = rules.CONFIRM, "Confirm elevation"
        RESUME_SAME_DOSE = rules.RESUME_SAME_DOSE, "Resume at the same dose"
        RESUME_REDUCED_DOSE = rules.RESUME_REDUCED_DOSE, "Resume at a reduced dose"
        DISCONTINUE = rules.DISCONTINUE, "Discontinue treatment"
        DISMISS = rules.DISMISS, "Dismiss"
        ACKNOWLEDGE = rules.ACKNOWLEDGE, "Acknowledge"

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="decisions")
    alerts = models.ManyToManyField(Alert, blank=True, related_name="decisions")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=24, choices=Action.choices)
    regimen = models.ForeignKey(
        Regimen,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The reduced regimen a resume_reduced_dose re-starts on.",
    )
    replaces = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="replaced_by",
        help_text="The earlier decision this one amends.",
    )
    reason = models.TextField()
    signed_at = models.DateTimeField()
    signature_meaning = models.CharField(max_length=300)
    transcribed = models.BooleanField(
        default=False,
        help_text="Entered by staff from a paper or earlier system's record; not an e-signature.",
    )
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    history = HistoricalRecords(m2m_fields=[alerts])

    class Meta:
        ordering = ["signed_at", "pk"]
        indexes = [
            models.Index(fields=["subject", "signed_at"]),
            # The dashboard's latest decisions of the whole study (overview.recent_activity).
            models.Index(fields=["-signed_at"], name="decision_signed_at_idx"),
        ]

    def __str__(self):
        return f"{self.get_action_display()} by {self.reviewer} at {self.signed_at:%Y-%m-%d %H:%M}"


class ObservationIdentifier(models.Model):
    """A FHIR Observation.identifier (system and value) and the lab result it was stored as, so
    a feed sending the same Observation again changes nothing (monitoring/formats/fhir/)."""

    system = models.CharField(max_length=500, blank=True)
    value = models.CharField(max_length=500)
    result = models.ForeignKey(LabResult, on_delete=models.CASCADE, related_name="identifiers")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["system", "value"], name="unique_observation_id")
        ]

    def __str__(self):
        return f"{self.system}|{self.value}"


class ExportJob(models.Model):
    """A study export asked for on the Reports page: built by a Celery task with its progress,
    its file kept (under MEDIA_ROOT) for the user who asked, after the page is gone."""

    KINDS = [("sdtm", "SDTM (DM, EX, LB), zipped"), ("audit", "Audit trail (CSV)")]
    STATUSES = [
        ("queued", "Queued"),
        ("running", "Running"),
        ("done", "Done"),
        ("failed", "Failed"),
    ]

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=KINDS)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=STATUSES, default="queued")
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done")
    file = models.FileField(upload_to="exports/%Y/%m/", blank=True)
    filename = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.get_kind_display()} for {self.user} ({self.status})"

    @property
    def kept_until(self):
        """When the cleanup task (services.export_jobs.delete_expired) deletes it and its file."""
        return self.created_at + timedelta(days=settings.HEPWATCH_EXPORT_RETENTION_DAYS)


class DataQuery(models.Model):
    """A monitor's or safety reviewer's question about one recorded value (a draw, a single lab
    result or a dose), answered by the site's coordinators with a correction or an explanation,
    then closed by a monitor or reviewer. Every step is a DataQueryStep; a closed query is never
    changed again (monitoring/services/data_queries.py refuses)."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ANSWERED = "answered", "Answered"
        CLOSED = "closed", "Closed"

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="data_queries")
    draw = models.ForeignKey(
        LabDraw, null=True, blank=True, on_delete=models.PROTECT, related_name="data_queries"
    )
    result = models.ForeignKey(
        LabResult, null=True, blank=True, on_delete=models.PROTECT, related_name="data_queries"
    )
    dose = models.ForeignKey(
        Dose, null=True, blank=True, on_delete=models.PROTECT, related_name="data_queries"
    )
    about = models.CharField(
        max_length=300, help_text="What was queried, as it stood when the query was opened."
    )
    question = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    opened_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "data queries"
        constraints = [
            models.CheckConstraint(
                name="data_query_one_target",
                condition=(
                    models.Q(draw__isnull=False, result__isnull=True, dose__isnull=True)
                    | models.Q(draw__isnull=True, result__isnull=False, dose__isnull=True)
                    | models.Q(draw__isnull=True, result__isnull=True, dose__isnull=False)
                ),
            )
        ]
        indexes = [models.Index(fields=["status", "subject"], name="data_query_status_idx")]
        ordering = ["-opened_at", "-pk"]

    def __str__(self):
        return f"Query {self.pk} on {self.subject}"

    @property
    def is_closed(self):
        return self.status == self.Status.CLOSED

    @property
    def target(self):
        return self.result or self.draw or self.dose

    @property
    def target_draw(self):
        """The draw queried, or the draw of the result queried (None for a dose)."""
        return self.result.draw if self.result_id else self.draw

    def describe_target(self):
        """What is queried, in words, as it stands now: the result with its value, the draw or
        the dose (`about` keeps it as it stood when the query was opened)."""
        if self.result_id:
            r = self.result
            return (
                f"{r.analyte} {units.format_number(r.value)} {units.unit_label(r.unit)} of the "
                f"lab draw of {rules.when(r.draw.collected_at)}"
            )
        if self.draw_id:
            return f"Lab draw of {rules.when(self.draw.collected_at)}"
        return (
            f"Dose of {units.format_number(self.dose.dose_mg)} mg on "
            f"{rules.when(self.dose.administered_at)}"
        )


class DataQueryStep(models.Model):
    """One step of a data query, as written and never changed: who, when, what they said, and
    for an answer by correction the value before and after."""

    class Action(models.TextChoices):
        OPENED = "opened", "Opened"
        ANSWERED = "answered", "Answered"
        CORRECTED = "corrected", "Answered with a correction"
        REOPENED = "reopened", "Sent back"
        CLOSED = "closed", "Closed"

    query = models.ForeignKey(DataQuery, on_delete=models.PROTECT, related_name="steps")
    action = models.CharField(max_length=10, choices=Action.choices)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()
    text = models.TextField()
    corrected_result = models.ForeignKey(
        LabResult, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    correction = models.CharField(
        max_length=300, blank=True, help_text="The value before and after, for a correction."
    )

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self):
        return f"{self.get_action_display()} by {self.author} at {self.at:%Y-%m-%d %H:%M}"
