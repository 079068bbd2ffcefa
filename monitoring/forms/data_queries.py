"""Data queries' forms: open one on a value, answer it, close it, send it back."""

from django import forms

from monitoring import rules, units
from subjects.forms import ReasonField


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
