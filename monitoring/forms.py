from django import forms
from django.contrib.auth import authenticate
from django.utils import timezone

from monitoring import rules, units
from monitoring.models import Decision, LabDraw
from monitoring.presentation import ANALYTE_LABELS, name_of
from monitoring.services import lab_entry, two_factor
from monitoring.services.review import SIGNATURE_MEANING
from subjects import inputs, site_time
from subjects.forms import MomentInput, PlainDecimalField, ReasonField, check_moment
from subjects.models import Regimen

DRAW_ANALYTES = ("ALT", "AST", "ALP", "TBIL", "LDLC", "APOB", "INR", "EOS")


def positive_decimal(**kwargs):
    """A lab value or ULN field: a plain positive decimal, stored to 12 decimals like
    LabResult; the plausibility limits are checked with its unit (units.check_plausible)."""
    return PlainDecimalField(places=inputs.LAB_PLACES, **kwargs)


def add_limit_error(form, error, fields):
    """Show a units.LimitError on the value's or the ULN's field (`fields` names them)."""
    form.add_error(fields[0] if error.field == "value" else fields[1], f"{error.message}.")


def add_entry_error(form, error):
    """Show a service's EntryError next to its field (or above the form when it has none)."""
    form.add_error(error.field if error.field in form.fields else None, error.message)


def unit_choices(analyte):
    return [(u, units.unit_label(u)) for u in units.ANALYTES[analyte].units]


class DrawForm(forms.Form):
    """One whole draw: when, which lab, and a row per test (value, unit, optional ULN)."""

    collected_at = forms.DateTimeField(label="Collected at (UTC)", widget=MomentInput())
    resulted_at = forms.DateTimeField(
        label="Results known at (UTC)",
        widget=MomentInput(),
        required=False,
        help_text="The lab's report time. Empty: now. Withholding starts when results are known.",
    )
    lab_name = forms.CharField(label="Laboratory", max_length=120, required=False)
    symptoms = forms.BooleanField(
        label="Symptoms of liver injury (fatigue, nausea, right upper abdominal pain, "
        "jaundice, fever or rash)",
        required=False,
    )

    def __init__(self, *args, subject, **kwargs):
        super().__init__(*args, **kwargs)
        self.subject = subject
        site_time.localise(
            self, ["collected_at", "resulted_at"], subject.site, now=["collected_at"]
        )
        ranges = lab_entry.reference_ranges()
        today = timezone.now().date()
        self.rows = []
        for analyte in DRAW_ANALYTES:
            spec = units.ANALYTES[analyte]
            resolved = units.resolve_uln(
                analyte, spec.canonical_unit, None, subject.sex, subject.birth_date, today, ranges
            )
            value = positive_decimal(
                label=f"{ANALYTE_LABELS.get(analyte, analyte)} value", required=False
            )
            unit = forms.ChoiceField(
                label=f"{analyte} unit",
                choices=unit_choices(analyte),
                initial=spec.canonical_unit,
                required=False,  # a test left empty needs no unit; one entered gets its own
            )
            uln = positive_decimal(label=f"{analyte} ULN", required=False)
            if resolved is not None:
                reference = (
                    f"{units.format_number(resolved.value)} {spec.canonical_unit}"
                    f" ({'reference range' if resolved.source == 'reference' else 'adult default'})"
                )
                uln.widget.attrs["placeholder"] = (
                    f"{units.format_number(resolved.value)} {spec.canonical_unit} if empty"
                )
                uln.help_text = f"Empty: {reference}"
            else:
                uln.help_text = "No ULN for this test"
            label = ANALYTE_LABELS.get(analyte, analyte)
            value.widget.attrs["aria-label"] = f"{label} value"
            unit.widget.attrs["aria-label"] = f"{label} unit"
            uln.widget.attrs["aria-label"] = f"{label} ULN"
            self.fields[f"{analyte}_value"] = value
            self.fields[f"{analyte}_unit"] = unit
            self.fields[f"{analyte}_uln"] = uln
            self.rows.append(
                {
                    "analyte": analyte,
                    "label": ANALYTE_LABELS.get(analyte, analyte),
                    "name": spec.name,
                    "value": f"{analyte}_value",
                    "unit": f"{analyte}_unit",
                    "uln": f"{analyte}_uln",
                }
            )

    def bound_rows(self):
        return [
            {**row, "value": self[row["value"]], "unit": self[row["unit"]], "uln": self[row["uln"]]}
            for row in self.rows
        ]

    def clean_collected_at(self):
        moment = check_moment(self.cleaned_data["collected_at"], self.subject, "collection time")
        if LabDraw.objects.filter(subject=self.subject, collected_at=moment).exists():
            raise forms.ValidationError(
                f"A draw is already recorded for {self.subject} at {moment:%Y-%m-%d %H:%M}.",
                code="duplicate",
            )
        return moment

    def clean_resulted_at(self):
        moment = self.cleaned_data["resulted_at"]
        if moment is not None:
            check_moment(moment, self.subject, "result time")
        return moment

    def clean(self):
        cleaned = super().clean()
        collected, resulted = cleaned.get("collected_at"), cleaned.get("resulted_at")
        if collected and resulted and resulted < collected:
            self.add_error("resulted_at", "The results cannot be known before the blood was drawn.")
        entered = 0
        for analyte in DRAW_ANALYTES:
            value = cleaned.get(f"{analyte}_value")
            # An empty unit is the canonical one, as result_entries saves it: its limits apply.
            unit = cleaned.get(f"{analyte}_unit") or units.ANALYTES[analyte].canonical_unit
            uln = cleaned.get(f"{analyte}_uln")
            try:
                units.normalise_unit(analyte, unit)
            except units.UnitError as error:
                self.add_error(f"{analyte}_unit", str(error).capitalize() + ".")
                unit = None
            if value is not None and unit:
                try:
                    units.check_plausible(analyte, value, unit, uln)
                except units.LimitError as error:
                    add_limit_error(self, error, (f"{analyte}_value", f"{analyte}_uln"))
            if value is not None:
                entered += 1
            elif cleaned.get(f"{analyte}_uln") is not None:
                self.add_error(f"{analyte}_value", f"Enter the {analyte} value for this ULN.")
        if not entered and not any(f.endswith("_value") for f in self.errors):
            raise forms.ValidationError("Enter at least one result.", code="empty")
        return cleaned

    def result_entries(self):
        entries = []
        for analyte in DRAW_ANALYTES:
            value = self.cleaned_data.get(f"{analyte}_value")
            if value is None:
                continue
            entries.append(
                lab_entry.ResultEntry(
                    analyte=analyte,
                    value=value,
                    unit=self.cleaned_data[f"{analyte}_unit"]
                    or units.ANALYTES[analyte].canonical_unit,
                    reported_uln=self.cleaned_data.get(f"{analyte}_uln"),
                )
            )
        return entries


class CorrectionForm(forms.Form):
    value = positive_decimal()
    unit = forms.ChoiceField()
    reported_uln = positive_decimal(
        label="ULN (as reported by the lab)",
        required=False,
        help_text="Empty: the reference range, else the adult default.",
    )
    reason = ReasonField(
        label="Reason for the correction",
        help_text="Kept in the audit history, e.g. “transcription error: lab report says 54”.",
        required_message="A reason is required to change a saved lab value.",
    )

    def __init__(self, *args, result, **kwargs):
        super().__init__(*args, **kwargs)
        self.result = result
        self.fields["unit"].choices = unit_choices(result.analyte)
        if not self.is_bound:
            self.initial = {
                "value": units.format_number(result.value),
                "unit": result.unit,
                "reported_uln": units.format_number(result.reported_uln)
                if result.reported_uln is not None
                else None,
            }

    def clean(self):
        cleaned = super().clean()
        r = self.result
        if cleaned.get("value") is not None and cleaned.get("unit"):
            try:
                units.check_plausible(
                    r.analyte, cleaned["value"], cleaned["unit"], cleaned.get("reported_uln")
                )
            except units.LimitError as error:
                add_limit_error(self, error, ("value", "reported_uln"))
        if (
            cleaned.get("value") == r.value
            and cleaned.get("unit") == r.unit
            and cleaned.get("reported_uln") == r.reported_uln
        ):
            raise forms.ValidationError("Nothing changed: enter the corrected value.")
        return cleaned


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


class DataQueryForm(forms.Form):
    """Open a data query: the value it is about (a draw, one of its results, or a dose of the
    subject) and the question for the site."""

    target = forms.ChoiceField(
        label="About", error_messages={"required": "Choose the draw, result or dose queried."}
    )
    question = ReasonField(
        label="Question for the site",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="E.g. “ALT 412 U/L is ten times the previous value: please check the lab "
        "report.” The site's coordinators are told in the app and by e-mail.",
        required_message="A question is required: say what looks wrong and what the site should "
        "check.",
    )

    def __init__(self, *args, subject, **kwargs):
        super().__init__(*args, **kwargs)
        self.targets = {}
        choices = []
        for draw in subject.draws.prefetch_related("results").order_by("-collected_at"):
            when = rules.when(draw.collected_at)
            group = [(f"draw-{draw.pk}", f"The whole draw of {when}")]
            self.targets[f"draw-{draw.pk}"] = draw
            for r in draw.results.all():
                key = f"result-{r.pk}"
                self.targets[key] = r
                value = f"{units.format_number(r.value)} {units.unit_label(r.unit)}"
                group.append((key, f"{r.analyte} {value} of {when}"))
            choices.append((f"Lab draw of {when}", group))
        doses = []
        for dose in subject.doses.order_by("-administered_at"):
            self.targets[f"dose-{dose.pk}"] = dose
            mg = units.format_number(dose.dose_mg)
            doses.append((f"dose-{dose.pk}", f"{mg} mg on {rules.when(dose.administered_at)}"))
        if doses:
            choices.append(("Doses", doses))
        self.fields["target"].choices = [("", "Choose…"), *choices]

    def clean_target(self):
        return self.targets[self.cleaned_data["target"]]


class QueryAnswerForm(forms.Form):
    answer = ReasonField(
        label="Your answer",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why the value stands as recorded (e.g. “checked against the lab report: "
        "correct”). To change the value, use “Correct the value” instead.",
        required_message="An answer is required: explain why the value stands.",
    )


class QueryCloseForm(forms.Form):
    note = forms.CharField(
        label="Note (optional)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required only to close a query nobody answered (e.g. “opened in error”).",
    )


class QuerySendBackForm(forms.Form):
    follow_up = ReasonField(
        label="Follow-up question",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Sends the query back to the site, open again.",
        required_message="A follow-up question is required: say what the answer left open.",
    )
