"""Forensic results API (contract: "Forensic results")."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.incidents import IncidentApi
from api.pagination import paginated
from api.rendering import absolute, render
from api.serializers import StrictInput
from evidence import selectors
from evidence.models import ForensicResult
from evidence.serializers import EvidenceOutput
from evidence.services.access import require_content_reader
from evidence.services.forensics import forensic_result_record
from incidents.models import Incident


class MethodInput(StrictInput):
    family = serializers.CharField(max_length=100)
    name = serializers.CharField(max_length=200)
    version = serializers.CharField(max_length=100)


class StatisticInput(StrictInput):
    name = serializers.CharField(max_length=100)
    value = serializers.FloatField()


class ForensicResultInput(StrictInput):
    method = MethodInput()
    suspect_model = serializers.CharField(max_length=200)
    parameters = serializers.DictField()
    statistic = StatisticInput()
    p_value = serializers.FloatField()
    alpha = serializers.FloatField()
    verdict = serializers.ChoiceField(choices=ForensicResult.Verdict.choices)
    summary = serializers.CharField(max_length=20000)
    limitations = serializers.ListField(
        child=serializers.CharField(max_length=2000), required=False, max_length=100
    )
    artefacts = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, max_length=1000
    )


class ForensicResultOutput(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.SerializerMethodField()
    incident = serializers.CharField(source="incident.reference")
    method = serializers.SerializerMethodField()
    suspect_model = serializers.CharField()
    parameters = serializers.JSONField()
    statistic = serializers.SerializerMethodField()
    p_value = serializers.FloatField()
    alpha = serializers.FloatField()
    verdict = serializers.CharField()
    summary = serializers.CharField()
    limitations = serializers.ListField(child=serializers.CharField())
    artefacts = serializers.SerializerMethodField()
    evidence = EvidenceOutput()
    submitted_by = serializers.CharField(source="submitted_by.username")
    submitted_at = serializers.DateTimeField()

    def get_url(self, result: ForensicResult) -> str:
        return absolute(
            self.context["request"], "api:forensic-result-detail", result.pk
        )

    def get_method(self, result: ForensicResult) -> dict:
        return {
            "family": result.method_family,
            "name": result.method_name,
            "version": result.method_version,
        }

    def get_statistic(self, result: ForensicResult) -> dict:
        return {"name": result.statistic_name, "value": result.statistic_value}

    def get_artefacts(self, result: ForensicResult) -> list[int]:
        # Only those the caller may see (the selectors' `visible_artefacts`).
        return [item.pk for item in result.visible_artefacts]  # type: ignore[attr-defined]  # Prefetch to_attr in the selector


class ForensicResultListApi(IncidentApi):
    role_checks = {"get": require_content_reader}
    required_scope = "ingest"

    @extend_schema(responses=ForensicResultOutput(many=True))
    def get(self, request: Request, incident: Incident) -> Response:
        results = selectors.forensic_result_list_for_user(request.user, incident)
        return paginated(self, request, results, ForensicResultOutput)

    @extend_schema(request=ForensicResultInput, responses={201: ForensicResultOutput})
    def post(self, request: Request, incident: Incident) -> Response:
        data = ForensicResultInput.validated(request.data)
        result = forensic_result_record(incident=incident, by=request.user, **data)
        # The poster sees what it sent: the result is its own submission.
        result = selectors.forensic_result_get_for_user(request.user, result.pk)  # type: ignore[assignment]  # the poster may read its own result
        return render(request, ForensicResultOutput, result, status.HTTP_201_CREATED)


class ForensicResultDetailApi(APIView):
    @extend_schema(responses=ForensicResultOutput)
    def get(self, request: Request, id: int) -> Response:
        require_content_reader(request.user)  # before the lookup: reveals nothing
        result = selectors.forensic_result_get_for_user(request.user, id)
        if result is None:
            raise NotFound()
        return render(request, ForensicResultOutput, result)
