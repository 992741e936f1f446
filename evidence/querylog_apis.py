"""Query-log API (contract: "Query logs"): detectors post batches; people explore rows."""

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.rfc3339 import OffsetDateTimeField
from evidence import selectors
from evidence.serializers import EvidenceOutput
from evidence.services.access import require_content_reader
from evidence.services.querylogs import PayloadTooLarge, query_log_ingest
from incidents.apis import incident_or_404, render
from incidents.serializers import absolute


class QueryLogBatchOutput(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.SerializerMethodField()
    incident = serializers.CharField(source="incident.reference")
    evidence = EvidenceOutput()
    rows = serializers.IntegerField()
    body_sha256 = serializers.CharField()
    merkle_root = serializers.CharField()
    received_at = serializers.DateTimeField()
    received_by = serializers.CharField(source="received_by.username")
    content_type = serializers.CharField()
    content_encoding = serializers.CharField()
    idempotency_key = serializers.CharField(allow_null=True)

    def get_url(self, batch) -> str:
        return absolute(self.context["request"], "api:query-log-batch-detail", batch.pk)


class QueryLogRowOutput(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.SerializerMethodField()
    batch = serializers.IntegerField(source="batch_id")
    line = serializers.IntegerField()
    row_sha256 = serializers.CharField()
    timestamp = serializers.DateTimeField()
    account_id = serializers.CharField()
    request_id = serializers.CharField()
    org_id = serializers.CharField()
    api_key_fp = serializers.CharField()
    ip = serializers.CharField(allow_null=True)
    user_agent = serializers.CharField()
    model = serializers.CharField()
    prompt = serializers.CharField()
    prompt_sha256 = serializers.CharField()
    response = serializers.CharField()
    response_sha256 = serializers.CharField()
    prompt_tokens = serializers.IntegerField(allow_null=True)
    completion_tokens = serializers.IntegerField(allow_null=True)
    params = serializers.JSONField()
    extra = serializers.JSONField()

    def get_url(self, row) -> str:
        return absolute(self.context["request"], "api:query-log-detail", row.pk)


class RowFilters(serializers.Serializer):
    account_id = serializers.CharField(required=False, max_length=256)
    ip = serializers.IPAddressField(required=False)
    model = serializers.CharField(required=False, max_length=200)
    since = OffsetDateTimeField(required=False)
    until = OffsetDateTimeField(required=False)
    cursor = serializers.CharField(required=False)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=1000)


class RowCursor(CursorPagination):
    ordering = ("timestamp", "id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000

    def decode_cursor(self, request):
        # DRF answers 404 for a cursor it cannot read; the contract says 400.
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise serializers.ValidationError({"cursor": ["Invalid cursor."]}) from None


class QueryLogListApi(APIView):
    required_scope = "ingest"
    pagination_class = RowCursor  # documents the cursor page in the schema

    @extend_schema(
        parameters=[RowFilters],
        responses=QueryLogRowOutput(many=True),
    )
    def get(self, request: Request, reference: str) -> Response:
        incident = incident_or_404(request, reference)
        require_content_reader(request.user)
        filters = RowFilters(data=request.query_params)
        filters.is_valid(raise_exception=True)
        rows = selectors.query_log_rows(incident, **filters.validated_data)
        paginator = RowCursor()
        page = paginator.paginate_queryset(rows, request, view=self)
        data = QueryLogRowOutput(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)

    @extend_schema(
        request={"application/x-ndjson": bytes, "text/csv": bytes},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
        responses={201: QueryLogBatchOutput, 200: QueryLogBatchOutput},
    )
    def post(self, request: Request, reference: str) -> Response:
        incident = incident_or_404(request, reference)
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if declared.isdigit() and int(declared) > settings.QUERY_LOG_MAX_BODY_BYTES:
            raise PayloadTooLarge(
                f"The body is larger than the limit of {settings.QUERY_LOG_MAX_BODY_BYTES} bytes."
            )
        key = request.headers.get("Idempotency-Key")
        batch, created = query_log_ingest(
            incident=incident,
            by=request.user,
            stream=request._request,  # the raw body, read in chunks, never parsed by DRF
            content_type=request.content_type,
            content_encoding=request.headers.get("Content-Encoding", ""),
            idempotency_key=key,
        )
        batch = selectors.query_log_batch(batch.pk)
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return render(request, QueryLogBatchOutput, batch, code)


class QueryLogStatsApi(APIView):
    @extend_schema(
        responses={200: OpenApiResponse(description="rows, accounts, hourly")}
    )
    def get(self, request: Request, reference: str) -> Response:
        incident = incident_or_404(request, reference)
        require_content_reader(request.user)
        rows = selectors.query_log_rows(incident)
        accounts = selectors.query_log_accounts(rows)
        hourly = selectors.query_log_volume(rows, hourly=True)
        field = serializers.DateTimeField()
        return Response(
            {
                "rows": rows.count(),
                "accounts": [
                    {
                        "account_id": a["account_id"],
                        "count": a["count"],
                        "first_seen": field.to_representation(a["first_seen"]),
                        "last_seen": field.to_representation(a["last_seen"]),
                    }
                    for a in accounts
                ],
                "hourly": [
                    {"hour": field.to_representation(hour), "count": count}
                    for hour, count in hourly
                ],
            }
        )


class QueryLogBatchDetailApi(APIView):
    @extend_schema(responses=QueryLogBatchOutput)
    def get(self, request: Request, id: int) -> Response:
        batch = selectors.query_log_batch_for_user(request.user, id)
        if batch is None:
            raise NotFound()
        return render(request, QueryLogBatchOutput, batch)


class QueryLogRowDetailApi(APIView):
    @extend_schema(responses=QueryLogRowOutput)
    def get(self, request: Request, id: int) -> Response:
        require_content_reader(request.user)
        row = selectors.query_log_row_for_user(request.user, id)
        if row is None:
            raise NotFound()
        return render(request, QueryLogRowOutput, row)
