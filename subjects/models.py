from zoneinfo import available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from simple_history.models import HistoricalRecords


class Study(models.Model):
    code = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=200)
    rule_set = models.CharField(
        max_length=40,
        default="seed",
        help_text="The published liver-safety rules the study follows (monitoring.rules): "
        "changed only with a reason, which re-evaluates every subject.",
    )
    blinded = models.BooleanField(
        default=False,
        help_text='Double-blind: arms and regimens show as "Blinded" to everyone but the '
        "unblinded group (subjects.access). Changed only with a reason.",
    )
    maintenance_interval_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Days between routine ALT/AST draws once past the first 28 days (rule R10). "
        "Empty: the HEPWATCH_MAINTENANCE_DAYS setting (30 by default).",
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "studies"

    def __str__(self):
        return self.code

    @property
    def maintenance_days(self):
        return self.maintenance_interval_days or settings.HEPWATCH_MAINTENANCE_DAYS


def validate_country(code):
    if not (len(code) == 3 and code.isalpha() and code.isupper()):
        raise ValidationError(f"{code!r} is not an ISO 3166-1 alpha-3 code (GBR, DEU, JPN)")


def validate_time_zone(name):
    if name not in available_timezones():
        raise ValidationError(f"{name!r} is not an IANA time zone (Europe/London, Asia/Tokyo)")


class Site(models.Model):
    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="sites")
    code = models.CharField(max_length=40)
    name = models.CharField(max_length=200, blank=True)
    country = models.CharField(
        max_length=3,
        blank=True,
        validators=[validate_country],
        help_text="ISO 3166-1 alpha-3 (GBR, DEU, JPN); SDTM DM takes COUNTRY from it.",
    )
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_time_zone],
        help_text="IANA name (Europe/London, Asia/Tokyo): the site's clock on its forms and pages.",
    )
    coordinators = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="sites"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["study", "code"], name="unique_site_code")]
        ordering = ["code"]

    def __str__(self):
        return self.code


class Regimen(models.Model):
    """A dosing regimen of a study: data, not code. A regimen whose dose varies in the data
    (an imported study) has no dose."""

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="regimens")
    code = models.CharField(max_length=40)
    name = models.CharField(max_length=200)
    dose_mg = models.DecimalField(
        "dose per administration (mg)", max_digits=8, decimal_places=2, null=True, blank=True
    )
    administrations_per_week = models.PositiveSmallIntegerField()
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "code"], name="unique_regimen_code")
        ]
        ordering = ["code"]

    def __str__(self):
        return self.name


class Arm(models.Model):
    """A study arm, and the regimen its subjects start on."""

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="arms")
    code = models.CharField(max_length=40)
    name = models.CharField(max_length=200)
    regimen = models.ForeignKey(
        Regimen,
        on_delete=models.PROTECT,
        related_name="arms",
        help_text="The regimen its subjects start on.",
    )
    history = HistoricalRecords()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["study", "code"], name="unique_arm_code")]
        ordering = ["code"]

    def __str__(self):
        return self.name


class Subject(models.Model):
    class Sex(models.TextChoices):
        MALE = "M", "Male"
        FEMALE = "F", "Female"

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="subjects")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="subjects")
    subject_id = models.CharField("subject ID", max_length=40)
    sex = models.CharField(max_length=1, choices=Sex.choices)
    birth_date = models.DateField()
    arm = models.ForeignKey(Arm, on_delete=models.PROTECT, related_name="subjects")
    enrolled_on = models.DateField()
    active_liver_disease = models.BooleanField(default=False)
    screen_failure = models.BooleanField(
        default=False,
        help_text="Screened but never randomised or dosed (from a sponsor's CDISC DM or ADSL).",
    )
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "subject_id"], name="unique_subject_in_study")
        ]
        ordering = ["subject_id"]

    def __str__(self):
        return self.subject_id


class Dose(models.Model):
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="doses")
    administered_at = models.DateTimeField()
    dose_mg = models.DecimalField(max_digits=8, decimal_places=2)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    given_despite = models.TextField(
        blank=True,
        help_text="The rule this dose broke at its own time, as the coordinator confirmed it "
        "was given all the same (R9 or R11 follows).",
    )
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subject", "administered_at"], name="unique_dose_time")
        ]
        ordering = ["administered_at"]

    def __str__(self):
        return f"{self.dose_mg} mg at {self.administered_at:%Y-%m-%d %H:%M}"


class UnblindedRosterEntry(models.Model):
    """A user staff allow to be unblinded for a study: only a listed user may join the
    `unblinded` group, and membership shows the arms of the studies that list them."""

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="unblinded_roster")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="unblinded_roster"
    )
    reason = models.TextField(help_text="Why this user may see the allocation (DMC, statistician).")
    history = HistoricalRecords()

    class Meta:
        verbose_name = "unblinded roster entry"
        verbose_name_plural = "unblinded roster"
        constraints = [
            models.UniqueConstraint(fields=["study", "user"], name="unique_unblinded_roster_user")
        ]

    def __str__(self):
        return f"{self.user} for {self.study}"


class EmergencyUnblinding(models.Model):
    """A safety reviewer's signed emergency unblinding of one subject: the event is shown to
    everyone, the arm to that reviewer (and to the unblinded group)."""

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="unblindings")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField()
    signed_at = models.DateTimeField()
    signature = models.CharField(
        max_length=200, help_text="Who signed, when, and that the password was re-entered."
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["signed_at"]

    def __str__(self):
        return f"{self.subject} unblinded by {self.reviewer}"


from subjects.api_tokens import ApiToken  # noqa: E402,F401  (registered with the app's models)
