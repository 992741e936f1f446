"""API shapes for alerts. Input serializers check shape only; incidents.alerts decides."""

import math

from rest_framework import serializers

from api.rendering import absolute
from api.serializers import StrictInput
from config.rfc3339 import OffsetDateTimeField
from incidents.models import Alert, Incident
from incidents.serializers import IdOutput


class NumberField(serializers.FloatField):
    """A JSON number: strings, booleans, NaN and infinities are refused."""

    default_error_messages = {"number": "Must be a finite number."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("number")
        try:
            finite = math.isfinite(data)
        except OverflowError:
            finite = False
        if not finite:
            self.fail("number")
        return super().to_internal_value(data)


class AlertSubjectInput(StrictInput):
    kind = serializers.CharField(max_length=32)
    value = serializers.CharField(max_length=512, trim_whitespace=False)


class SignalInput(StrictInput):
    name = serializers.CharField(max_length=200)
    value = NumberField()
    threshold = NumberField(allow_null=True, default=None)
    p_value = NumberField(allow_null=True, default=None, min_value=0, max_value=1)
    explanation = serializers.CharField(allow_blank=True, max_length=5000, default="")


class AlertInput(StrictInput):
    source = serializers.CharField(max_length=100)  # type: ignore[assignment]  # a field named source; DRF moves fields off the class
    external_id = serializers.CharField(max_length=200)
    title = serializers.CharField(max_length=200)
    severity = serializers.ChoiceField(choices=Incident.Severity.choices)
    detected_at = OffsetDateTimeField()
    model = serializers.CharField(required=False, allow_blank=True, max_length=200)
    subjects = AlertSubjectInput(many=True, required=False, max_length=500)  # type: ignore[call-arg]  # many=True passes max_length to ListSerializer
    signals = SignalInput(many=True, required=False, max_length=200)  # type: ignore[call-arg]  # as above
    score = NumberField(required=False, allow_null=True)
    incident = serializers.CharField(
        required=False, allow_null=True, max_length=20, help_text="A reference."
    )


class AlertMergeInput(StrictInput):
    incident = serializers.CharField(max_length=20, help_text="A reference.")


class AlertDismissInput(StrictInput):
    reason = serializers.CharField(max_length=5000)


class SignalOutput(serializers.Serializer):
    name = serializers.CharField()
    value = serializers.FloatField()
    threshold = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(allow_null=True)
    explanation = serializers.CharField()


class AlertSubjectOutput(serializers.Serializer):
    kind = serializers.CharField()
    value = serializers.CharField()


class AlertOutput(IdOutput):
    url = serializers.SerializerMethodField()
    source = serializers.CharField()  # type: ignore[assignment]  # a field named source
    external_id = serializers.CharField()
    title = serializers.CharField()
    severity = serializers.CharField()
    detected_at = serializers.DateTimeField()
    model = serializers.CharField()
    subjects = AlertSubjectOutput(many=True)
    signals = SignalOutput(many=True)
    score = serializers.FloatField(allow_null=True)
    incident = serializers.CharField(source="incident.reference")
    incident_url = serializers.SerializerMethodField()
    status = serializers.CharField()
    occurrences = serializers.IntegerField()
    first_seen = serializers.DateTimeField(source="first_seen_at")
    last_seen = serializers.DateTimeField(source="last_seen_at")
    received_by = serializers.CharField(source="received_by.username")
    handled_by = serializers.CharField(source="handled_by.username", allow_null=True)
    handled_at = serializers.DateTimeField(allow_null=True)
    dismissed_reason = serializers.CharField()
    links = serializers.SerializerMethodField()

    def get_url(self, alert: Alert) -> str:
        return absolute(self.context["request"], "api:alert-detail", alert.pk)

    def get_incident_url(self, alert: Alert) -> str:
        return absolute(
            self.context["request"], "api:incident-detail", alert.incident.reference
        )

    def get_links(self, alert: Alert) -> dict[str, str]:
        request = self.context["request"]
        return {
            act: absolute(request, f"api:alert-{act}", alert.pk)
            for act in ("promote", "merge", "dismiss")
        }
