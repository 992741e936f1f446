"""Analysis API (contract: "Analyses (account linkage)")."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analysis import selectors
from analysis.models import Analysis
from analysis.services import analysis_request
from api.incidents import IncidentApi
from api.pagination import paginated
from api.rendering import absolute, render
from api.serializers import StrictInput
from evidence.services.access import require_content_reader
from incidents.models import Incident


class AnalysisInput(StrictInput):
    parameters = serializers.DictField(required=False, allow_null=True)


class AnalysisOutput(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.SerializerMethodField()
    incident = serializers.CharField(source="incident.reference")
    status = serializers.CharField()
    progress = serializers.IntegerField()
    stage = serializers.CharField()
    error = serializers.CharField()
    requested_by = serializers.CharField(source="requested_by.username")
    requested_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    code_version = serializers.CharField()
    parameters = serializers.DictField()
    parameters_sha256 = serializers.CharField()
    batches = serializers.ListField(child=serializers.DictField())
    clusters_count = serializers.IntegerField(allow_null=True)
    accounts_count = serializers.IntegerField(allow_null=True)
    evidence = serializers.SerializerMethodField()

    def get_url(self, analysis: Analysis) -> str:
        return absolute(self.context["request"], "api:analysis-detail", analysis.pk)

    def get_evidence(self, analysis: Analysis) -> dict | None:
        """The stored result: an evidence item of the incident, with its SHA-256."""
        item = analysis.evidence
        if item is None:
            return None
        request = self.context["request"]
        return {
            "id": item.pk,
            "url": absolute(request, "api:evidence-detail", item.pk),
            "exhibit": item.exhibit,
            "sha256": item.sha256,
            "size": item.size,
            "download_url": absolute(request, "api:evidence-download", item.pk),
        }


class AnalysisDetailOutput(AnalysisOutput):
    population = serializers.SerializerMethodField()
    clusters = serializers.SerializerMethodField()
    accounts = serializers.SerializerMethodField()

    def _result(self, analysis: Analysis, key: str):
        if analysis.status != Analysis.Status.DONE or not analysis.result:
            return None
        return analysis.result.get(key)

    def get_population(self, analysis: Analysis) -> dict | None:
        return self._result(analysis, "population")

    def get_clusters(self, analysis: Analysis) -> list[dict] | None:
        """Strongest first; only clusters above the threshold."""
        return self._result(analysis, "clusters")

    def get_accounts(self, analysis: Analysis) -> list[dict] | None:
        """Every account with its signals, by volume."""
        return self._result(analysis, "accounts")


class AnalysisListApi(IncidentApi):
    role_checks = {"get": require_content_reader}

    @extend_schema(responses=AnalysisOutput(many=True))
    def get(self, request: Request, incident: Incident) -> Response:
        return paginated(
            self,
            request,
            selectors.analysis_list_for_user(request.user, incident),
            AnalysisOutput,
        )

    @extend_schema(request=AnalysisInput, responses={202: AnalysisOutput})
    def post(self, request: Request, incident: Incident) -> Response:
        data = AnalysisInput.validated(request.data)
        # The object as requested: a fast worker may already have moved the stored
        # row on, but the contract's answer to a request is "queued", 0.
        analysis = analysis_request(
            incident=incident, by=request.user, parameters=data.get("parameters")
        )
        return render(request, AnalysisOutput, analysis, status.HTTP_202_ACCEPTED)


class AnalysisDetailApi(APIView):
    @extend_schema(responses=AnalysisDetailOutput)
    def get(self, request: Request, id: int) -> Response:
        analysis = selectors.analysis_get_for_user(request.user, id)
        if analysis is None:
            raise NotFound()
        require_content_reader(request.user)
        return render(request, AnalysisDetailOutput, analysis)
