"""API shapes. Input serializers check shape only; services decide."""

from rest_framework import serializers

from accounts.models import Membership
from api.rendering import absolute
from api.serializers import StrictInput
from config.rfc3339 import OffsetDateTimeField
from incidents.models import HistoryEntry, Incident, Note, Subject, Task, TimelineEntry


class SubjectInput(StrictInput):
    kind = serializers.CharField(max_length=32)
    value = serializers.CharField(max_length=512, trim_whitespace=False)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class IncidentCreateInput(StrictInput):
    title = serializers.CharField(max_length=200)
    summary = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    kind = serializers.ChoiceField(choices=Incident.Kind.choices)
    severity = serializers.ChoiceField(choices=Incident.Severity.choices)
    tlp = serializers.ChoiceField(choices=Incident.Tlp.choices, required=False)
    affected_models = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, max_length=100
    )
    detected_at = OffsetDateTimeField(required=False, allow_null=True)
    subjects = SubjectInput(many=True, required=False, max_length=1000)  # type: ignore[call-arg]  # many=True passes max_length to ListSerializer


class IncidentUpdateInput(StrictInput):
    title = serializers.CharField(max_length=200, required=False)
    summary = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    kind = serializers.ChoiceField(choices=Incident.Kind.choices, required=False)
    severity = serializers.ChoiceField(
        choices=Incident.Severity.choices, required=False
    )
    tlp = serializers.ChoiceField(choices=Incident.Tlp.choices, required=False)
    affected_models = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, max_length=100
    )
    owner = serializers.CharField(max_length=150, required=False)


class TransitionInput(StrictInput):
    to = serializers.ChoiceField(choices=Incident.Status.choices)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class TimelineInput(StrictInput):
    occurred_at = OffsetDateTimeField()
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(
        required=False, allow_blank=True, max_length=20000
    )
    source = serializers.CharField(required=False, allow_blank=True, max_length=200)  # type: ignore[assignment]  # a field named source; DRF moves fields off the class


class NoteInput(StrictInput):
    body = serializers.CharField(max_length=100000)
    privileged = serializers.BooleanField(required=False, default=False)


class TaskInput(StrictInput):
    title = serializers.CharField(max_length=200)
    assignee = serializers.CharField(max_length=150, required=False, allow_null=True)
    due_on = serializers.DateField(required=False, allow_null=True)


class TaskUpdateInput(StrictInput):
    is_done = serializers.BooleanField()


class MemberInput(StrictInput):
    user = serializers.CharField(max_length=150)


# The base of every output: each object carries its `id` (and a `url`, added per
# kind). A comment, not a docstring: drf-spectacular would print a docstring into
# every subclass's schema description.
class IdOutput(serializers.Serializer):
    id = serializers.IntegerField()


class SubjectOutput(IdOutput):
    url = serializers.SerializerMethodField()
    kind = serializers.CharField()
    value = serializers.CharField()
    note = serializers.CharField()
    added_by = serializers.CharField(source="added_by.username")
    added_at = serializers.DateTimeField()

    def get_url(self, subject: Subject) -> str:
        return absolute(
            self.context["request"],
            "api:subject-detail",
            subject.incident.reference,
            subject.pk,
        )


class IncidentOutput(IdOutput):
    url = serializers.SerializerMethodField()
    reference = serializers.CharField()
    title = serializers.CharField()
    summary = serializers.CharField()
    kind = serializers.CharField()
    severity = serializers.CharField()
    tlp = serializers.CharField()
    status = serializers.CharField()
    affected_models = serializers.ListField(child=serializers.CharField())
    owner = serializers.CharField(source="owner.username", allow_null=True)
    detected_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)
    legal_hold = serializers.BooleanField(source="is_under_legal_hold")
    legal_hold_set_at = serializers.DateTimeField(allow_null=True)
    legal_hold_reason = serializers.CharField()
    custody_alert = serializers.CharField()
    subjects = SubjectOutput(many=True)
    links = serializers.SerializerMethodField()

    def get_url(self, incident: Incident) -> str:
        return absolute(
            self.context["request"], "api:incident-detail", incident.reference
        )

    def get_links(self, incident: Incident) -> dict[str, str]:
        request = self.context["request"]
        names = (
            "subjects",
            "timeline",
            "notes",
            "tasks",
            "members",
            "history",
            "transition",
        )
        return {
            name: absolute(request, f"api:incident-{name}", incident.reference)
            for name in names
        }


class TimelineOutput(IdOutput):
    url = serializers.SerializerMethodField()
    occurred_at = serializers.DateTimeField()
    recorded_at = serializers.DateTimeField()
    title = serializers.CharField()
    description = serializers.CharField()
    source = serializers.CharField()  # type: ignore[assignment]  # as above
    recorded_by = serializers.CharField(source="recorded_by.username")

    def get_url(self, entry: TimelineEntry) -> str:
        return absolute(
            self.context["request"],
            "api:timeline-detail",
            entry.incident.reference,
            entry.pk,
        )


class NoteOutput(IdOutput):
    url = serializers.SerializerMethodField()
    body = serializers.CharField()
    privileged = serializers.BooleanField(source="is_privileged")
    author = serializers.CharField(source="author.username")
    created_at = serializers.DateTimeField()

    def get_url(self, note: Note) -> str:
        return absolute(
            self.context["request"], "api:note-detail", note.incident.reference, note.pk
        )


class TaskOutput(IdOutput):
    url = serializers.SerializerMethodField()
    title = serializers.CharField()
    assignee = serializers.CharField(source="assignee.username", allow_null=True)
    due_on = serializers.DateField(allow_null=True)
    is_done = serializers.BooleanField()
    done_at = serializers.DateTimeField(allow_null=True)
    created_by = serializers.CharField(source="created_by.username")
    created_at = serializers.DateTimeField()

    def get_url(self, task: Task) -> str:
        return absolute(
            self.context["request"], "api:task-detail", task.incident.reference, task.pk
        )


class MemberOutput(IdOutput):
    url = serializers.SerializerMethodField()
    user = serializers.CharField(source="user.username")
    role = serializers.CharField(source="user.role")
    added_by = serializers.CharField(source="added_by.username", allow_null=True)
    added_at = serializers.DateTimeField()

    def get_url(self, membership: Membership) -> str:
        return absolute(
            self.context["request"],
            "api:member-detail",
            membership.incident.reference,
            membership.user.username,
        )


class HistoryOutput(IdOutput):
    url = serializers.SerializerMethodField()
    at = serializers.DateTimeField()
    actor = serializers.CharField(source="actor.username", allow_null=True)
    action = serializers.CharField()
    summary = serializers.CharField()
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)
    reason = serializers.CharField()

    def get_url(self, entry: HistoryEntry) -> str:
        return absolute(
            self.context["request"],
            "api:history-detail",
            entry.incident.reference,
            entry.pk,
        )
