"""Entering labs: a whole draw, a correction of a saved value, and their helpers."""

from django import forms
from django.utils import timezone

from monitoring import units
from monitoring.models import LabDraw
from monitoring.presentation import ANALYTE_LABELS
from monitoring.services import lab_entry
from subjects import inputs, site_time
from subjects.forms import MomentInput, PlainDecimalField, ReasonField, check_moment

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
