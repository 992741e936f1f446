from django import forms

from evidence.services.items import MANUAL_ACTIONS


class CustodyForm(forms.Form):
    action = forms.ChoiceField(choices=[(a, a.capitalize()) for a in MANUAL_ACTIONS])
    purpose = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    to_custodian = forms.CharField(max_length=200, required=False, label="To custodian")
    location = forms.CharField(max_length=200, required=False)
    tool = forms.CharField(max_length=200, required=False)
    tool_version = forms.CharField(max_length=100, required=False)


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


class LegalHoldForm(ReasonForm):
    action = forms.ChoiceField(choices=[("set", "Set"), ("release", "Release")])
