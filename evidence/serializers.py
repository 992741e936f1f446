from rest_framework import serializers

from api.rendering import absolute
from api.serializers import StrictInput
from config.rfc3339 import OffsetDateTimeField
from evidence.models import CustodyEvent, Evidence
from evidence.services.items import MANUAL_ACTIONS


class EvidenceUploadInput(StrictInput):
    file = serializers.FileField(allow_empty_file=True)
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(
        required=False, allow_blank=True, max_length=20000
    )
    source = serializers.CharField(required=False, allow_blank=True, max_length=200)  # type: ignore[assignment]  # a field named source; DRF moves fields off the class
    collected_by = serializers.CharField(
        required=False, allow_blank=True, max_length=200
    )
    collected_at = OffsetDateTimeField(required=False, allow_null=True)
    privileged = serializers.BooleanField(required=False, default=False)
    location = serializers.CharField(required=False, allow_blank=True, max_length=200)


class CustodyInput(StrictInput):
    action = serializers.ChoiceField(choices=MANUAL_ACTIONS)
    purpose = serializers.CharField(allow_blank=True, max_length=5000)
    to_custodian = serializers.CharField(
        required=False, allow_blank=True, max_length=200
    )
    location = serializers.CharField(required=False, allow_blank=True, max_length=200)
    tool = serializers.CharField(required=False, allow_blank=True, max_length=200)
    tool_version = serializers.CharField(
        required=False, allow_blank=True, max_length=100
    )


class ReasonInput(StrictInput):
    reason = serializers.CharField(allow_blank=True, max_length=5000)


class LegalHoldInput(ReasonInput):
    action = serializers.ChoiceField(choices=["set", "release"])


class EvidenceOutput(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.SerializerMethodField()
    incident = serializers.CharField(source="incident.reference")
    exhibit = serializers.CharField()
    kind = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    source = serializers.CharField()  # type: ignore[assignment]  # as above
    collected_by = serializers.CharField()
    collected_at = serializers.DateTimeField(allow_null=True)
    received_by = serializers.CharField(source="received_by.username")
    received_at = serializers.DateTimeField()
    sha256 = serializers.CharField()
    size = serializers.IntegerField()
    media_type = serializers.CharField()
    original_name = serializers.CharField()
    privileged = serializers.BooleanField(source="is_privileged")
    sealed = serializers.BooleanField(source="is_sealed")
    withdrawn = serializers.BooleanField(source="is_withdrawn")
    withdrawn_at = serializers.DateTimeField(allow_null=True)
    withdrawn_reason = serializers.CharField()
    custody_count = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()
    custody_url = serializers.SerializerMethodField()

    def get_url(self, item: Evidence) -> str:
        return absolute(self.context["request"], "api:evidence-detail", item.pk)

    def get_download_url(self, item: Evidence) -> str:
        return absolute(self.context["request"], "api:evidence-download", item.pk)

    def get_custody_url(self, item: Evidence) -> str:
        return absolute(self.context["request"], "api:evidence-custody", item.pk)

    def get_custody_count(self, item: Evidence) -> int:
        count = getattr(item, "custody_count", None)
        return item.custody.count() if count is None else count


class CustodyEventOutput(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.SerializerMethodField()
    seq = serializers.IntegerField()
    evidence = serializers.IntegerField(source="evidence_id")
    exhibit = serializers.CharField(source="evidence.exhibit")
    action = serializers.CharField()
    actor = serializers.CharField(source="actor_name")
    at = serializers.DateTimeField()
    location = serializers.CharField()
    purpose = serializers.CharField()
    sha256_observed = serializers.CharField(allow_null=True)
    prev_hash = serializers.CharField()
    entry_hash = serializers.CharField()
    from_custodian = serializers.SerializerMethodField()
    to_custodian = serializers.SerializerMethodField()
    tool = serializers.SerializerMethodField()
    tool_version = serializers.SerializerMethodField()
    dossier = serializers.SerializerMethodField()
    details = serializers.JSONField()

    def get_url(self, event: CustodyEvent) -> str:
        return absolute(
            self.context["request"],
            "api:custody-event-detail",
            event.evidence_id,
            event.seq,
        )

    def _detail(self, event: CustodyEvent, key: str):
        return event.details.get(key)

    def get_from_custodian(self, event) -> str | None:
        return self._detail(event, "from_custodian")

    def get_to_custodian(self, event) -> str | None:
        return self._detail(event, "to_custodian")

    def get_tool(self, event) -> str | None:
        return self._detail(event, "tool")

    def get_tool_version(self, event) -> str | None:
        return self._detail(event, "tool_version")

    def get_dossier(self, event) -> int | None:
        return self._detail(event, "dossier")
