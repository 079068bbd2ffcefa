from datetime import timedelta
from decimal import Decimal

from django import forms
from django.utils import timezone

from .models import Dose, Subject

ENROLMENT_LEEWAY = timedelta(days=60)


class MomentInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs={"step": 60, **(attrs or {})}, format="%Y-%m-%dT%H:%M")


def check_moment(moment, subject: Subject, what="time"):
    """A collected/administered time must not be in the future nor before enrolment - 60 days."""
    if moment > timezone.now():
        raise forms.ValidationError(f"The {what} is in the future.", code="future")
    earliest = subject.enrolled_on - ENROLMENT_LEEWAY
    if moment.date() < earliest:
        raise forms.ValidationError(
            f"The {what} is more than 60 days before enrolment "
            f"({subject.enrolled_on:%Y-%m-%d}); the earliest allowed is {earliest:%Y-%m-%d}.",
            code="too_early",
        )


class DoseForm(forms.Form):
    administered_at = forms.DateTimeField(
        label="Administered at (UTC)", widget=MomentInput(), localize=False
    )
    dose_mg = forms.DecimalField(
        label="Dose (mg)", max_digits=8, decimal_places=2, min_value=Decimal("0.01")
    )

    confirm_given = forms.BooleanField(
        required=False,
        label="I confirm this dose was given, although it breaks the rule named above",
    )

    def __init__(self, *args, subject: Subject, regimen_text="", **kwargs):
        super().__init__(*args, **kwargs)
        self.subject = subject
        if regimen_text:
            self.fields["dose_mg"].help_text = f"Regimen in force now: {regimen_text}."
        self.fields["dose_mg"].error_messages["min_value"] = "The dose must be a positive number."

    def clean_administered_at(self):
        moment = self.cleaned_data["administered_at"]
        check_moment(moment, self.subject, "administration time")
        if Dose.objects.filter(subject=self.subject, administered_at=moment).exists():
            raise forms.ValidationError(
                f"A dose is already recorded for {self.subject} at {moment:%Y-%m-%d %H:%M}.",
                code="duplicate",
            )
        return moment
