"""Custody verification and custody bundle jobs (contract extension of "Evidence and
chain of custody"): what `POST .../verify/` and `GET .../custody-bundle/` answer
with 202 for an incident too large to re-read inside the request, and where the
caller polls for the result."""

from django.http import FileResponse, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.rendering import absolute
from config.errors import Conflict
from evidence import selectors
from evidence.models import CustodyBundle, CustodyVerification
from evidence.services.access import require_content_reader
from evidence.services.custody_jobs import custody_bundle_open


class FailureOutput(serializers.Serializer):
    evidence = serializers.CharField(allow_null=True)
    problem = serializers.CharField()


class VerifyOutput(serializers.Serializer):
    """The synchronous answer of `POST .../verify/`."""

    ok = serializers.BooleanField()
    checked = serializers.IntegerField()
    failures = FailureOutput(many=True)


class _JobOutput(serializers.Serializer):
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

    url_name: str

    def get_url(self, job) -> str:
        return absolute(self.context["request"], self.url_name, job.pk)

    @staticmethod
    def _done(job, value):
        return value if job.status == job.Status.DONE else None


class CustodyVerificationOutput(_JobOutput):
    """A verification job; `ok`, `checked` and `failures` are null until it is done,
    then exactly what the synchronous answer holds."""

    url_name = "api:custody-verification-detail"
    ok = serializers.SerializerMethodField()
    checked = serializers.SerializerMethodField()
    failures = serializers.SerializerMethodField()

    def get_ok(self, job: CustodyVerification) -> bool | None:
        return self._done(job, job.ok)

    def get_checked(self, job: CustodyVerification) -> int | None:
        return self._done(job, job.checked)

    @extend_schema_field(FailureOutput(many=True, allow_null=True))
    def get_failures(self, job: CustodyVerification) -> list[dict] | None:
        return self._done(job, job.failures)


class ExportedOutput(serializers.Serializer):
    exhibit = serializers.CharField()
    seq = serializers.IntegerField()


class CustodyBundleOutput(_JobOutput):
    """A bundle job; `sha256`, `size` and `download_url` are null until it is done.
    `exported` lists the `exported` custody events recorded when it was built (one
    per item, empty before)."""

    url_name = "api:custody-bundle-detail"
    include_files = serializers.BooleanField()
    sha256 = serializers.SerializerMethodField()
    size = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()
    exported = ExportedOutput(many=True)

    def get_sha256(self, job: CustodyBundle) -> str | None:
        return self._done(job, job.sha256)

    def get_size(self, job: CustodyBundle) -> int | None:
        return self._done(job, job.size)

    def get_download_url(self, job: CustodyBundle) -> str | None:
        url = absolute(self.context["request"], "api:custody-bundle-download", job.pk)
        return self._done(job, url)


def accepted(request: Request, serializer_class, job) -> Response:
    """202 with the job as requested, and where to poll for it."""
    data = serializer_class(job, context={"request": request}).data
    return Response(
        data, status=status.HTTP_202_ACCEPTED, headers={"Location": data["url"]}
    )


class CustodyVerificationDetailApi(APIView):
    @extend_schema(responses=CustodyVerificationOutput)
    def get(self, request: Request, id: int) -> Response:
        job = selectors.custody_verification_get_for_user(request.user, id)
        if job is None:
            raise NotFound()
        require_content_reader(request.user)
        return Response(
            CustodyVerificationOutput(job, context={"request": request}).data
        )


class CustodyBundleDetailApi(APIView):
    @extend_schema(responses=CustodyBundleOutput)
    def get(self, request: Request, id: int) -> Response:
        job = _bundle_or_404(request, id)
        return Response(CustodyBundleOutput(job, context={"request": request}).data)


class CustodyBundleDownloadApi(APIView):
    @extend_schema(
        responses={
            (200, "application/zip"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="The built custody bundle (its export was recorded when "
                "it was built; downloading it records nothing more).",
            )
        }
    )
    def get(self, request: Request, id: int):
        job = self._done(request, id)
        return FileResponse(
            custody_bundle_open(job),
            as_attachment=True,
            filename=_filename(job),
            content_type="application/zip",
        )

    def head(self, request: Request, id: int):
        job = self._done(request, id)
        response = HttpResponse(content_type="application/zip")
        response["Content-Length"] = str(job.size)
        response["Content-Disposition"] = f'attachment; filename="{_filename(job)}"'
        return response

    @staticmethod
    def _done(request: Request, id: int) -> CustodyBundle:
        job = _bundle_or_404(request, id)
        if job.status != CustodyBundle.Status.DONE:
            raise Conflict(
                f"Custody bundle {job.pk} is {job.status}; there is no zip yet."
            )
        return job


def _bundle_or_404(request: Request, id: int) -> CustodyBundle:
    job = selectors.custody_bundle_get_for_user(request.user, id)
    if job is None:
        raise NotFound()
    require_content_reader(request.user)
    return job


def _filename(job: CustodyBundle) -> str:
    return f"{job.incident.reference}-custody-bundle-{job.pk}.zip"
