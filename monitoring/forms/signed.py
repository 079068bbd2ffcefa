"""Forms signed with the password (the electronic signature): a decision, an emergency
unblinding; and the second factor's code at sign-in."""

from django import forms
from django.contrib.auth import authenticate

from monitoring.models import Decision
from monitoring.people import name_of
from monitoring.services import two_factor
from monitoring.services.review import SIGNATURE_MEANING
from subjects.forms import ReasonField
from subjects.models import Regimen


class PasswordSignatureField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("label", "Your password (electronic signature)")
        kwargs.setdefault("widget", forms.PasswordInput(attrs={"autocomplete": "current-password"}))
        super().__init__(strip=False, **kwargs)


class SignedForm(forms.Form):
    """A form signed by its user re-entering their password (the electronic signature). The
    check goes through authenticate(), so wrong signatures count towards the sign-in lockout."""

    signs = "form"  # what is signed, for the error message

    def __init__(self, *args, user, request=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user, self.request = user, request

    def clean_password(self):
        password = self.cleaned_data["password"]
        if self.request is None:
            signed = self.user.check_password(password)
        else:
            username = self.user.get_username()
            signed = authenticate(self.request, username=username, password=password) == self.user
        if not signed:
            raise forms.ValidationError(
                f"The password does not match: the {self.signs} is not signed.", code="signature"
            )
        return password


def reduction_levels(regimens) -> dict:
    """{regimen: "Reduced dose level N"}, 1 the smallest reduction (the most mg a week), so a
    blinded reviewer can name a reduction without its dose or the arm it belongs to."""
    ordered = sorted(regimens, key=lambda r: (-(r.dose_mg or 0) * r.administrations_per_week, r.pk))
    return {r: f"Reduced dose level {n}" for n, r in enumerate(ordered, start=1)}


class UnblindForm(SignedForm):
    """A safety reviewer's emergency unblinding of one subject, signed with their password."""

    signs = "unblinding"
    reason = ReasonField(
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="The emergency, and why treating it needs the arm. Kept with the signature and "
        "e-mailed to the unblinded group.",
        required_message="A reason is required to unblind.",
    )
    password = PasswordSignatureField()


class DecisionForm(SignedForm):
    """A signed decision on a subject's alert or case. Only the actions section 3 allows for
    the subject now are offered; the others are listed with why not, and refused if posted."""

    signs = "decision"
    action = forms.ChoiceField(widget=forms.RadioSelect)
    regimen = forms.ModelChoiceField(
        queryset=Regimen.objects.none(),
        required=False,
        label="Re-start on",
        help_text="For a resume at a reduced dose: one of the study's reductions of the regimen "
        "in force.",
    )
    replaces = forms.ModelChoiceField(
        queryset=Decision.objects.none(),
        required=False,
        label="Amends an earlier decision",
        help_text="Leave empty for a new decision. The amended decision stays on record.",
    )
    reason = ReasonField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why: the clinical reasoning, kept with the signature.",
        required_message="A reason is required.",
    )
    password = PasswordSignatureField()

    def __init__(self, *args, user, choices, regimens, amendable, sees_arm=True, **kwargs):
        super().__init__(*args, user=user, **kwargs)
        self.signature_meaning = SIGNATURE_MEANING.format(
            name=name_of(user), username=user.get_username()
        )
        self.choices = choices
        self.refused = [c for c in choices if c.refused]
        self.fields["action"].choices = [(c.action, c.label) for c in choices if not c.refused]
        self.fields["regimen"].queryset = regimens
        if not sees_arm:
            self.fields["regimen"].label_from_instance = reduction_levels(regimens).get
            self.fields["regimen"].help_text = (
                "The study is blinded: reductions of the regimen in force are offered by level, "
                "1 the smallest reduction; the site's kit tells the dose."
            )
        self.fields["replaces"].queryset = amendable
        self.fields["replaces"].label_from_instance = lambda d: (
            f"{d.get_action_display()}, signed {d.signed_at:%Y-%m-%d %H:%M} UTC by "
            f"{name_of(d.reviewer)}"
        )

    def full_clean(self):
        """A refused action is not among the choices: say why it is refused, not "invalid"."""
        super().full_clean()
        posted = self.data.get("action") if self.is_bound else None
        refused = {c.action: c for c in self.refused}
        if posted in refused and "action" in self.errors:
            self.errors["action"] = self.error_class(
                [f"{refused[posted].label} is not allowed: {refused[posted].refused}."]
            )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("action") == Decision.Action.RESUME_REDUCED_DOSE and not cleaned.get(
            "regimen"
        ):
            self.add_error("regimen", "Choose the reduced regimen to re-start on.")
        return cleaned


class SecondFactorForm(forms.Form):
    """A code from the authenticator app (or, at sign-in, a recovery code), checked against the
    user's devices with django-otp's throttle; `enrolling` confirms the app being enrolled."""

    code = forms.CharField(
        label="Code",
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "none", "autofocus": True}
        ),
    )

    def __init__(self, *args, user, enrolling=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.user, self.enrolling = user, enrolling
        self.device, self.recovery_codes = None, []
        if enrolling:
            self.fields["code"].label = "Six-digit code from the app"
            self.fields["code"].widget.attrs["inputmode"] = "numeric"
        else:
            self.fields["code"].label = "Code from your authenticator app, or a recovery code"

    def clean_code(self):
        code = self.cleaned_data["code"]
        if self.enrolling:
            outcome, self.recovery_codes = two_factor.confirm_app(self.user, code)
        else:
            outcome = two_factor.verify(self.user, code)
        if outcome.device is None:
            raise forms.ValidationError(outcome.refusal, code="second_factor")
        self.device = outcome.device
        return code
