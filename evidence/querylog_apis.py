"""Query-log API (contract: "Query logs"): detectors post batches; people explore rows."""

import binascii
from base64 import b64decode, b64encode
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlencode

from django.conf import settings
from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from api.incidents import IncidentApi
from api.rendering import absolute, render
from config.rfc3339 import OffsetDateTimeField
from evidence import selectors
from evidence.serializers import EvidenceOutput
from evidence.services.access import require_content_reader
from evidence.services.querylogs import PayloadTooLarge, query_log_ingest
from incidents.models import Incident


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
    """Keyset pages in (timestamp, id) order, a total order: the cursor holds the
    position of the last (or, going back, the first) row shown, so any number of rows
    sharing one timestamp pages to the end, each row once. DRF's own cursor keeps
    only the timestamp and skips ties by an offset it caps at 1,000."""

    ordering = ("timestamp", "id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.base_url = request.build_absolute_uri()
        self.page_size = self.get_page_size(request)  # type: ignore[assignment]  # page_size has a default
        position = self.decode_cursor(request)
        self.cursor = position
        if position is None:
            reverse, after = False, None
        else:
            reverse, after = position
        queryset = queryset.order_by(*self.ordering)
        if after is not None:
            at, pk = after
            later = Q(timestamp__gt=at) | Q(timestamp=at, id__gt=pk)
            earlier = Q(timestamp__lt=at) | Q(timestamp=at, id__lt=pk)
            page = queryset.filter(earlier if reverse else later)
            beyond = queryset.filter(later if reverse else earlier)
        else:
            page, beyond = queryset, queryset.none()
        if reverse:
            page = page.reverse()
        rows = list(page[: self.page_size + 1])
        more = len(rows) > self.page_size
        rows = rows[: self.page_size]
        if reverse:
            rows.reverse()
        # `beyond` holds the rows on the far side of the cursor, in the direction
        # the reader came from: they exist unless the cursor pointed past them all.
        came_from = after is not None and beyond.exists()
        self.has_next, self.has_previous = (
            (came_from, more) if reverse else (more, came_from)
        )
        self.page = rows
        return rows

    def _link(self, reverse: bool, row) -> str:
        stamp = row.timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        token = urlencode({"r": int(reverse), "p": f"{stamp},{row.pk}"})
        encoded = b64encode(token.encode()).decode()
        return replace_query_param(self.base_url, self.cursor_query_param, encoded)

    def get_next_link(self):
        return self._link(False, self.page[-1]) if self.has_next and self.page else None

    def get_previous_link(self):
        if not self.has_previous or not self.page:
            return None
        return self._link(True, self.page[0])

    def decode_cursor(self, request):
        # DRF answers 404 for a cursor it cannot read; the contract says 400.
        text = request.query_params.get(self.cursor_query_param)
        if not text:
            return None
        try:
            fields = parse_qs(b64decode(text.encode(), validate=True).decode())
            reverse = {"0": False, "1": True}[fields["r"][0]]
            stamp, _, pk = fields["p"][0].rpartition(",")
            at = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
            number = int(pk)
            if not 0 < number < 2**63:
                raise ValueError(pk)
        except (ValueError, KeyError, IndexError, UnicodeDecodeError, binascii.Error):
            raise serializers.ValidationError({"cursor": ["Invalid cursor."]}) from None
        return reverse, (at, number)


class QueryLogListApi(IncidentApi):
    role_checks = {"get": require_content_reader}
    required_scope = "ingest"
    pagination_class = RowCursor  # documents the cursor page in the schema

    @extend_schema(
        parameters=[RowFilters],
        responses=QueryLogRowOutput(many=True),
    )
    def get(self, request: Request, incident: Incident) -> Response:
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
    def post(self, request: Request, incident: Incident) -> Response:
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if declared.isdigit() and int(declared) > settings.QUERY_LOG_MAX_BODY_BYTES:
            raise PayloadTooLarge(
                f"The body is larger than the limit of {settings.QUERY_LOG_MAX_BODY_BYTES} bytes."
            )
        key = request.headers.get("Idempotency-Key")
        batch, created = query_log_ingest(
            incident=incident,
            by=request.user,
            # The raw body, read in chunks, never parsed by DRF; DRF has no public name
            # for the Django request it wraps.
            stream=request._request,  # noqa: SLF001
            content_type=request.content_type,
            content_encoding=request.headers.get("Content-Encoding", ""),
            idempotency_key=key,
        )
        batch = selectors.query_log_batch(batch.pk)
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return render(request, QueryLogBatchOutput, batch, code)


class QueryLogStatsApi(IncidentApi):
    role_checks = {"get": require_content_reader}

    @extend_schema(
        responses={200: OpenApiResponse(description="rows, accounts, hourly")}
    )
    def get(self, request: Request, incident: Incident) -> Response:
        summary = selectors.query_log_summary(incident)
        hourly = selectors.query_log_volume(
            selectors.query_log_rows(incident), hourly=True
        )
        field = serializers.DateTimeField()
        return Response(
            {
                "rows": summary.rows,
                "accounts": [
                    {
                        "account_id": a["account_id"],
                        "count": a["count"],
                        "first_seen": field.to_representation(a["first_seen"]),
                        "last_seen": field.to_representation(a["last_seen"]),
                    }
                    for a in summary.accounts
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
