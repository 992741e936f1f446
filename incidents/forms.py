from django import forms

from accounts.selectors import user_get_by_username
from incidents.models import Incident, Subject


class IncidentForm(forms.Form):
    title = forms.CharField(max_length=200)
    summary = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)
    kind = forms.ChoiceField(choices=Incident.Kind.choices)
    severity = forms.ChoiceField(choices=Incident.Severity.choices, initial="medium")
    tlp = forms.ChoiceField(choices=Incident.Tlp.choices, initial="amber", label="TLP")
    affected_models = forms.CharField(
        required=False,
        help_text="Comma-separated model names, e.g. atlas-2, atlas-2-mini.",
    )
    detected_at = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="UTC.",
    )

    def clean_affected_models(self) -> list[str]:
        raw = self.cleaned_data["affected_models"]
        return [m.strip() for m in raw.split(",") if m.strip()]


class IncidentEditForm(IncidentForm):
    owner = forms.CharField(max_length=150, label="Owner (username)")

    def clean_owner(self):
        user = user_get_by_username(self.cleaned_data["owner"].strip())
        if user is None:
            raise forms.ValidationError("There is no active user by that name.")
        return user


class TransitionForm(forms.Form):
    to = forms.ChoiceField(choices=Incident.Status.choices)
    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class SubjectForm(forms.Form):
    kind = forms.ChoiceField(choices=Subject.Kind.choices)
    value = forms.CharField(max_length=512)
    note = forms.CharField(max_length=2000, required=False)


class TimelineForm(forms.Form):
    occurred_at = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}), help_text="UTC."
    )
    title = forms.CharField(max_length=200)
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False
    )
    source = forms.CharField(max_length=200, required=False)


class NoteForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    privileged = forms.BooleanField(
        required=False, help_text="Attorney-client privileged or work product."
    )


class TaskForm(forms.Form):
    title = forms.CharField(max_length=200)
    assignee = forms.ChoiceField(required=False)
    due_on = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, members=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].choices = [("", "— unassigned —")] + [  # type: ignore[attr-defined]  # a ModelChoiceField, which has choices
            (m.user.username, m.user.username) for m in members
        ]


class MemberForm(forms.Form):
    user = forms.CharField(max_length=150, label="Username")


class AlertMergeForm(forms.Form):
    incident = forms.CharField(max_length=20, label="Incident reference")


class AlertDismissForm(forms.Form):
    reason = forms.CharField(
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "A reason is required to dismiss an alert."},
    )
