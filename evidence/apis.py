"""Evidence and chain-of-custody API (contract: "Evidence and chain of custody")."""

import base64

from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.incidents import IncidentApi
from api.pagination import paginated
from api.rendering import render
from evidence import selectors
from evidence import serializers as s
from evidence.custody_job_apis import (
    CustodyBundleOutput,
    CustodyVerificationOutput,
    VerifyOutput,
    accepted,
)
from evidence.services.access import (
    evidence_download,
    evidence_download_check,
    require_content_reader,
)
from evidence.services.bundle import custody_bundle_build
from evidence.services.custody_jobs import (
    custody_bundle_is_large,
    custody_bundle_request,
    custody_is_large,
    custody_verification_request,
)
from evidence.services.items import (
    custody_add,
    evidence_add,
    evidence_withdraw,
    legal_hold_change,
)
from evidence.services.storage import blob_chunks
from evidence.services.verification import custody_verify
from evidence.uploads import install_hashing_upload_handler
from incidents.models import Incident
from incidents.serializers import IncidentOutput


def evidence_or_404(request: Request, evidence_id: int):
    item = selectors.evidence_get_for_user(request.user, evidence_id)
    if item is None:
        raise NotFound()
    return item


class EvidenceListApi(IncidentApi):
    parser_classes = [MultiPartParser, FormParser]
    required_scope = "ingest"

    def initial(self, request, *args, **kwargs):
        # Before authentication: a session's CSRF check already reads the body.
        if request.method == "POST":
            # DRF has no public name for the Django request it wraps; the handler
            # must be installed on that request before anything reads its body.
            install_hashing_upload_handler(request._request)  # noqa: SLF001
        super().initial(request, *args, **kwargs)

    @extend_schema(responses=s.EvidenceOutput(many=True))
    def get(self, request: Request, incident: Incident) -> Response:
        items = selectors.evidence_list_for_user(request.user, incident)
        return paginated(self, request, items, s.EvidenceOutput)

    @extend_schema(request=s.EvidenceUploadInput, responses={201: s.EvidenceOutput})
    def post(self, request: Request, incident: Incident) -> Response:
        data = s.EvidenceUploadInput.validated(request.data)
        item = evidence_add(
            incident=incident,
            by=request.user,
            upload=data.pop("file"),
            **data,
        )
        item = selectors.evidence_get_for_user(request.user, item.pk) or item
        return render(request, s.EvidenceOutput, item, status.HTTP_201_CREATED)


class EvidenceDetailApi(APIView):
    @extend_schema(responses=s.EvidenceOutput)
    def get(self, request: Request, id: int) -> Response:
        return render(request, s.EvidenceOutput, evidence_or_404(request, id))


class EvidenceDownloadApi(APIView):
    read_may_conflict = True  # its state can refuse a read: 409 in the schema

    @extend_schema(
        responses={200: OpenApiResponse(description="The exact bytes received.")}
    )
    def get(self, request: Request, id: int):
        item = evidence_or_404(request, id)
        observed = evidence_download(evidence=item, by=request.user)
        response = StreamingHttpResponse(
            blob_chunks(item.blob), content_type="application/octet-stream"
        )
        return _download_headers(response, item, observed)

    def head(self, request: Request, id: int):
        """The download's headers and no bytes: nothing is read out, so nothing is
        recorded in the chain of custody (the same checks, the same refusals)."""
        item = evidence_or_404(request, id)
        observed = evidence_download_check(evidence=item, by=request.user)
        return _download_headers(
            HttpResponse(content_type="application/octet-stream"), item, observed
        )


def _download_headers(response: HttpResponse, item, observed: str) -> HttpResponse:
    digest = base64.b64encode(bytes.fromhex(observed)).decode()
    response["Content-Length"] = str(item.size)
    response["Repr-Digest"] = f"sha-256=:{digest}:"
    response["Content-Disposition"] = (
        f'attachment; filename="{item.exhibit}"; '
        f"filename*=UTF-8''{_quote(item.exhibit + '-' + item.original_name)}"
    )
    response["X-Evidence-Media-Type"] = item.media_type
    return response


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


class CustodyListApi(APIView):
    @extend_schema(responses=s.CustodyEventOutput(many=True))
    def get(self, request: Request, id: int) -> Response:
        item = evidence_or_404(request, id)
        return paginated(
            self, request, selectors.custody_list(item), s.CustodyEventOutput
        )

    @extend_schema(request=s.CustodyInput, responses={201: s.CustodyEventOutput})
    def post(self, request: Request, id: int) -> Response:
        item = evidence_or_404(request, id)
        data = s.CustodyInput.validated(request.data)
        event = custody_add(evidence=item, by=request.user, **data)
        return render(request, s.CustodyEventOutput, event, status.HTTP_201_CREATED)


class CustodyEventDetailApi(APIView):
    @extend_schema(responses=s.CustodyEventOutput)
    def get(self, request: Request, id: int, seq: int) -> Response:
        item = evidence_or_404(request, id)
        event = selectors.custody_list(item).filter(seq=seq).first()
        if event is None:
            raise NotFound()
        return render(request, s.CustodyEventOutput, event)


class EvidenceWithdrawApi(APIView):
    @extend_schema(request=s.ReasonInput, responses=s.EvidenceOutput)
    def post(self, request: Request, id: int) -> Response:
        item = evidence_or_404(request, id)
        data = s.ReasonInput.validated(request.data)
        evidence_withdraw(evidence=item, by=request.user, reason=data["reason"])
        return render(request, s.EvidenceOutput, evidence_or_404(request, id))


class VerifyApi(IncidentApi):
    role_checks = {"post": require_content_reader}

    @extend_schema(
        request=None,
        responses={
            200: OpenApiResponse(
                VerifyOutput, description="Verified inside the request."
            ),
            202: OpenApiResponse(
                CustodyVerificationOutput,
                description="The incident's evidence is larger than "
                "CUSTODY_SYNC_MAX_BYTES: a verification job was queued; poll its "
                "`url` (also in `Location`).",
            ),
        },
    )
    def post(self, request: Request, incident: Incident) -> Response:
        if custody_is_large(items=incident.evidence.all()):
            job = custody_verification_request(incident=incident, by=request.user)
            return accepted(request, CustodyVerificationOutput, job)
        report = custody_verify(incident=incident, by=request.user)
        return Response(
            {
                "ok": report.ok,
                "checked": report.checked,
                "failures": [failure.as_dict() for failure in report.failures],
            }
        )


class LegalHoldApi(IncidentApi):
    @extend_schema(request=s.LegalHoldInput, responses=IncidentOutput)
    def post(self, request: Request, incident: Incident) -> Response:
        data = s.LegalHoldInput.validated(request.data)
        incident = legal_hold_change(incident=incident, by=request.user, **data)
        return render(request, IncidentOutput, incident)


class CustodyBundleApi(IncidentApi):
    role_checks = {"get": require_content_reader, "head": require_content_reader}

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "files",
                str,
                description="0, false or no: hashes only, without the files.",
            )
        ],
        responses={
            (200, "application/zip"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The bundle, built inside the request."
            ),
            (202, "application/json"): OpenApiResponse(
                CustodyBundleOutput,
                description="The files to include are larger than "
                "CUSTODY_SYNC_MAX_BYTES: a bundle job was queued; poll its `url` "
                "(also in `Location`) and download from its `download_url`.",
            ),
        },
    )
    def get(self, request: Request, incident: Incident):
        items = list(selectors.evidence_list_for_user(request.user, incident))
        include_files = request.query_params.get("files", "1") not in (
            "0",
            "false",
            "no",
        )
        if custody_bundle_is_large(
            by=request.user, items=items, include_files=include_files
        ):
            job = custody_bundle_request(
                incident=incident, by=request.user, include_files=include_files
            )
            return accepted(request, CustodyBundleOutput, job)
        bundle = custody_bundle_build(
            incident=incident, by=request.user, items=items, include_files=include_files
        )
        return FileResponse(
            bundle,
            as_attachment=True,
            filename=f"{incident.reference}-custody-bundle.zip",
            content_type="application/zip",
        )

    def head(self, request: Request, incident: Incident):
        """The bundle's type and name, with the same refusals as GET, but neither
        built nor recorded as exported: its length is only known once it is built
        (it holds its own `exported` events), so HEAD gives none."""
        response = HttpResponse(content_type="application/zip")
        response["Content-Disposition"] = (
            f'attachment; filename="{incident.reference}-custody-bundle.zip"'
        )
        return response
