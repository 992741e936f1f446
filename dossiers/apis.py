"""Dossier API (contract: "Dossiers")."""

from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.incidents import IncidentApi
from api.pagination import paginated
from api.rendering import absolute, render
from api.serializers import StrictInput
from config.errors import Conflict
from dossiers import selectors
from dossiers.models import Dossier
from dossiers.sections import section_keys
from dossiers.services import dossier_request
from evidence.services.access import evidence_download, evidence_download_check
from evidence.services.storage import blob_chunks
from incidents.models import Incident


class DossierInput(StrictInput):
    bates_prefix = serializers.CharField(required=False, max_length=20)
    sections = serializers.ListField(
        child=serializers.CharField(max_length=40),
        required=False,
        max_length=len(section_keys()),
    )
    sign = serializers.BooleanField(required=False, default=False)
    prepared_for = serializers.CharField(
        required=False, allow_blank=True, max_length=200
    )


class DossierOutput(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.SerializerMethodField()
    incident = serializers.CharField(source="incident.reference")
    status = serializers.CharField()
    progress = serializers.IntegerField()
    stage = serializers.CharField()
    error = serializers.CharField()
    requested_by = serializers.CharField(source="requested_by.username")
    requested_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    bates_prefix = serializers.CharField()
    sections = serializers.ListField(child=serializers.CharField())
    sign = serializers.BooleanField()
    prepared_for = serializers.CharField()
    sha256 = serializers.SerializerMethodField()
    size = serializers.SerializerMethodField()
    pages = serializers.SerializerMethodField()
    bates_first = serializers.SerializerMethodField()
    bates_last = serializers.SerializerMethodField()
    pdf_url = serializers.SerializerMethodField()
    evidence = serializers.SerializerMethodField()

    def _done(self, dossier: Dossier, value):
        return value if dossier.status == Dossier.Status.DONE else None

    def get_url(self, dossier: Dossier) -> str:
        return absolute(self.context["request"], "api:dossier-detail", dossier.pk)

    def get_sha256(self, dossier: Dossier) -> str | None:
        return self._done(dossier, dossier.sha256)

    def get_size(self, dossier: Dossier) -> int | None:
        return self._done(dossier, dossier.size)

    def get_pages(self, dossier: Dossier) -> int | None:
        return self._done(dossier, dossier.pages)

    def get_bates_first(self, dossier: Dossier) -> str | None:
        return self._done(dossier, dossier.bates_first)

    def get_bates_last(self, dossier: Dossier) -> str | None:
        return self._done(dossier, dossier.bates_last)

    def get_pdf_url(self, dossier: Dossier) -> str | None:
        url = absolute(self.context["request"], "api:dossier-pdf", dossier.pk)
        return self._done(dossier, url)

    def get_evidence(self, dossier: Dossier) -> str | None:
        if dossier.evidence_id is None:
            return None
        return absolute(
            self.context["request"], "api:evidence-detail", dossier.evidence_id
        )


class DossierListApi(IncidentApi):
    @extend_schema(responses=DossierOutput(many=True))
    def get(self, request: Request, incident: Incident) -> Response:
        return paginated(
            self,
            request,
            selectors.dossier_list_for_user(request.user, incident),
            DossierOutput,
        )

    @extend_schema(request=DossierInput, responses={202: DossierOutput})
    def post(self, request: Request, incident: Incident) -> Response:
        data = DossierInput.validated(request.data)
        # The object as requested: a fast worker may already have moved the stored
        # row on, but the contract's answer to a request is "queued", 0.
        dossier = dossier_request(incident=incident, by=request.user, **data)
        return render(request, DossierOutput, dossier, status.HTTP_202_ACCEPTED)


class DossierDetailApi(APIView):
    @extend_schema(responses=DossierOutput)
    def get(self, request: Request, id: int) -> Response:
        dossier = selectors.dossier_get_for_user(request.user, id)
        if dossier is None:
            raise NotFound()
        return render(request, DossierOutput, dossier)


class DossierPdfApi(APIView):
    read_may_conflict = True  # its state can refuse a read: 409 in the schema

    @extend_schema(responses={200: OpenApiResponse(description="application/pdf")})
    def get(self, request: Request, id: int):
        dossier = self._done_dossier(request, id)
        item = dossier.evidence
        evidence_download(
            evidence=item, by=request.user, purpose=f"Dossier {dossier.pk} download"
        )
        response = StreamingHttpResponse(
            blob_chunks(item.blob), content_type="application/pdf"
        )
        return self._headers(response, dossier)

    def head(self, request: Request, id: int):
        """The PDF's headers without its bytes: no download is recorded."""
        dossier = self._done_dossier(request, id)
        evidence_download_check(evidence=dossier.evidence, by=request.user)
        return self._headers(HttpResponse(content_type="application/pdf"), dossier)

    @staticmethod
    def _done_dossier(request: Request, id: int) -> Dossier:
        dossier = selectors.dossier_get_for_user(request.user, id)
        if dossier is None:
            raise NotFound()
        if dossier.status != Dossier.Status.DONE:
            raise Conflict(
                f"Dossier {dossier.pk} is {dossier.status}; there is no PDF yet."
            )
        return dossier

    @staticmethod
    def _headers(response: HttpResponse, dossier: Dossier) -> HttpResponse:
        response["Content-Length"] = str(dossier.evidence.size)
        response["Content-Disposition"] = (
            f'attachment; filename="{dossier.incident.reference}-dossier-{dossier.pk}.pdf"'
        )
        return response
