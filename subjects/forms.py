from datetime import timedelta

from django import forms
from django.utils import timezone

from . import inputs, site_time
from .models import Dose, Subject

ENROLMENT_LEEWAY = timedelta(days=60)


class MomentInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs={"step": 60, **(attrs or {})}, format="%Y-%m-%dT%H:%M")


class PlainDecimalField(forms.CharField):
    """A number as plain decimal digits, read by inputs.parse_decimal (the same parser as the
    imports): rounded to `places` decimals; 0 only when `zero`."""

    def __init__(self, *, places, zero=False, **kwargs):
        self.places, self.zero = places, zero
        kwargs.setdefault(
            "widget", forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"})
        )
        super().__init__(**kwargs)

    def to_python(self, value):
        text = super().to_python(value)
        if text in self.empty_values:
            return None
        try:
            return inputs.parse_decimal(text, places=self.places, zero=self.zero)
        except ValueError as exc:
            raise forms.ValidationError(f"{exc}.", code="invalid") from None


class ReasonField(forms.CharField):
    """A reason: text with at least one visible character (inputs.visible_text), so neither
    spaces nor zero-width characters pass for one."""

    def __init__(self, *, required_message, **kwargs):
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 2}))
        super().__init__(**kwargs)
        self.error_messages["required"] = required_message

    def clean(self, value):
        try:
            return inputs.visible_text(super().clean(value))
        except ValueError:
            raise forms.ValidationError(self.error_messages["required"], code="required") from None


def check_moment(moment, subject: Subject, what="time"):
    """A collected/administered time as UTC: within inputs.check_moment (an offset in use, not
    before 1900, not later than now) and not before enrolment - 60 days."""
    try:
        moment = inputs.check_moment(moment)
    except ValueError as exc:
        if moment > timezone.now():
            raise forms.ValidationError(f"The {what} is in the future.", code="future") from None
        raise forms.ValidationError(f"The {what}: {exc}.", code="invalid") from None
    earliest = subject.enrolled_on - ENROLMENT_LEEWAY
    if moment.date() < earliest:
        raise forms.ValidationError(
            f"The {what} is more than 60 days before enrolment "
            f"({subject.enrolled_on:%Y-%m-%d}); the earliest allowed is {earliest:%Y-%m-%d}.",
            code="too_early",
        )
    return moment


class DoseForm(forms.Form):
    administered_at = forms.DateTimeField(
        label="Administered at (UTC)", widget=MomentInput(), localize=False
    )
    dose_mg = PlainDecimalField(label="Dose (mg)", places=inputs.DOSE_PLACES, zero=True)

    confirm_given = forms.BooleanField(
        required=False,
        label="I confirm this dose was given, although it breaks the rule named above",
    )

    def __init__(self, *args, subject: Subject, regimen_text="", **kwargs):
        super().__init__(*args, **kwargs)
        self.subject = subject
        site_time.localise(self, ["administered_at"], subject.site, now=["administered_at"])
        if regimen_text:
            self.fields["dose_mg"].help_text = f"Regimen in force now: {regimen_text}."

    def clean_dose_mg(self):
        try:
            return inputs.check_dose(self.cleaned_data["dose_mg"])
        except ValueError as exc:
            raise forms.ValidationError(f"{exc}.", code="limit") from None

    def clean_administered_at(self):
        moment = check_moment(
            self.cleaned_data["administered_at"], self.subject, "administration time"
        )
        if Dose.objects.filter(subject=self.subject, administered_at=moment).exists():
            raise forms.ValidationError(
                f"A dose is already recorded for {self.subject} at {moment:%Y-%m-%d %H:%M}.",
                code="duplicate",
            )
        return moment
