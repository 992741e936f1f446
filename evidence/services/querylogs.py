"""Query-log batches from detection tools: all or nothing, idempotent, and traceable
from every stored row back to the exact bytes the detector sent."""

import hashlib
import pickle
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

import orjson
import psycopg
from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, connection, transaction
from psycopg.copy import FileWriter

from accounts.models import User
from config.errors import Conflict, DomainError, InvalidInput, NotAllowed
from evidence import merkle, querylog_facets, querylog_parsing
from evidence.models import Evidence, QueryLogBatch, QueryLogFacet, QueryLogRow
from evidence.querylog_parsing import ROW_COLUMNS, BodyError, LineError, Row
from evidence.services.items import evidence_add
from incidents.models import Incident

NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")
CSV_TYPES = ("text/csv",)
MAX_REPORTED_ERRORS = 100
CHUNK = 1024 * 1024
SQLITE_BATCH = 2000


class UnsupportedMediaType(DomainError):
    status_code = 415


class PayloadTooLarge(DomainError):
    status_code = 413


class InvalidBatch(InvalidInput):
    """Lines failed validation; `errors` lists them as {line, field, message}."""


def _media_type(content_type: str) -> str:
    base = (content_type or "").split(";")[0].strip().lower()
    if base in NDJSON_TYPES:
        return "application/x-ndjson"
    if base in CSV_TYPES:
        return "text/csv"
    raise UnsupportedMediaType(
        f"Content-Type '{base or 'none'}' is not accepted; send application/x-ndjson or text/csv."
    )


def _encoding(content_encoding: str) -> str:
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        return ""
    if encoding in ("gzip", "x-gzip"):
        return "gzip"
    raise UnsupportedMediaType(
        f"Content-Encoding '{encoding}' is not accepted; use gzip or none."
    )


def _spool(stream: BinaryIO) -> tuple[BinaryIO, str, int]:
    """Copy the body to a temporary file, hashing it; refuses past the size limit."""
    limit = settings.QUERY_LOG_MAX_BODY_BYTES
    spool = tempfile.TemporaryFile()  # noqa: SIM115  (closed by the caller)
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(CHUNK):
        size += len(chunk)
        if size > limit:
            spool.close()
            raise PayloadTooLarge(
                f"The body is larger than the limit of {limit} bytes."
            )
        digest.update(chunk)
        spool.write(chunk)
    spool.seek(0)
    return spool, digest.hexdigest(), size


def _existing(incident: Incident, key: str, body_sha256: str) -> QueryLogBatch | None:
    batch = (
        QueryLogBatch.objects.select_related("evidence", "incident")
        .filter(incident=incident, idempotency_key=key, evidence__isnull=False)
        .first()
    )
    if batch is not None and batch.body_sha256 != body_sha256:
        raise Conflict(
            "This Idempotency-Key was used for a different body; nothing was stored."
        )
    return batch


def query_log_ingest(
    *,
    incident: Incident,
    by: User,
    stream: BinaryIO,
    content_type: str,
    content_encoding: str = "",
    idempotency_key: str | None = None,
) -> tuple[QueryLogBatch, bool]:
    """Store a batch of query logs; returns (batch, created).

    Every line is validated first, before any transaction opens; one bad line stores
    nothing and raises InvalidBatch listing up to 100 errors. A body past the work
    budget (inflated size or ratio, lines) raises PayloadTooLarge. The received
    bytes become a `query_log` evidence item with a `received` custody event. A
    repeated Idempotency-Key with the same body returns
    the first batch; with another body it is a Conflict.
    """
    if not by.can_submit_evidence:
        raise NotAllowed(f"Your role ({by.role}) cannot add query logs.")
    media_type = _media_type(content_type)
    encoding = _encoding(content_encoding)
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 200:
        raise InvalidInput.for_field("Idempotency-Key", "must be 1 to 200 characters")
    spool, body_sha256, size = _spool(stream)
    with spool:
        if size == 0:
            raise InvalidInput("The body is empty.")
        if idempotency_key and (
            batch := _existing(incident, idempotency_key, body_sha256)
        ):
            return batch, False
        staged = _parse_and_stage(
            incident=incident,
            spool=spool,
            size=size,
            media_type=media_type,
            encoding=encoding,
        )
        try:
            with staged:
                batch = _load(
                    incident=incident,
                    by=by,
                    spool=spool,
                    staged=staged,
                    body_sha256=body_sha256,
                    size=size,
                    media_type=media_type,
                    encoding=encoding,
                    idempotency_key=idempotency_key,
                )
        except IntegrityError:
            # A concurrent request with the same key committed first.
            if idempotency_key and (
                batch := _existing(incident, idempotency_key, body_sha256)
            ):
                return batch, False
            raise
    return batch, True


class _Staged:
    """The batch's rows, validated and written to a temporary file before any
    database transaction opens: on PostgreSQL as COPY text (already formatted, so
    the load is a plain byte copy), elsewhere as pickled lists of rows."""

    def __init__(self, batch_id: int | None) -> None:
        self.batch_id = batch_id  # reserved from the sequence on PostgreSQL
        self.file = tempfile.TemporaryFile()  # noqa: SIM115  (closed by __exit__)
        self.count = 0
        self.root = ""

    def __enter__(self) -> "_Staged":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.file.close()

    def chunks(self) -> Iterator[bytes]:
        self.file.seek(0)
        while chunk := self.file.read(CHUNK):
            yield chunk

    def rows(self) -> Iterator[Row]:
        self.file.seek(0)
        while True:
            try:
                yield from pickle.load(self.file)  # noqa: S301  (our own temp file)
            except EOFError:
                return


def _parse_and_stage(
    *, incident: Incident, spool: BinaryIO, size: int, media_type: str, encoding: str
) -> _Staged:
    """Validate every line and stage the rows, holding no database lock: parsing a
    large body takes seconds, and on SQLite an open write transaction would make
    every other writer (a note on the same incident) wait or fail meanwhile.
    Raises InvalidBatch, InvalidInput or PayloadTooLarge; nothing is stored."""
    body = querylog_parsing.open_body(
        spool,
        gzipped=encoding == "gzip",
        inflated_limit=settings.QUERY_LOG_MAX_INFLATED_BYTES,
        compressed_size=size,
        max_ratio=settings.QUERY_LOG_MAX_INFLATE_RATIO,
        ratio_floor=settings.QUERY_LOG_INFLATE_RATIO_FLOOR_BYTES,
    )
    parse = (
        querylog_parsing.parse_csv
        if media_type == "text/csv"
        else querylog_parsing.parse_ndjson
    )
    items = parse(body, settings.QUERY_LOG_MAX_LINE_BYTES, settings.QUERY_LOG_MAX_LINES)
    is_postgresql = connection.vendor == "postgresql"
    staged = _Staged(_reserve_batch_id() if is_postgresql else None)
    errors: list[LineError] = []
    frontier: list[Any] = []
    try:
        if is_postgresql:
            # Formats with the connection's adapters and writes to the file only.
            with (
                connection.cursor() as cursor,
                psycopg.Copy(
                    cursor.cursor, binary=False, writer=FileWriter(staged.file)
                ) as copy,
            ):
                for row in _valid_rows(items, errors, staged):
                    frontier = merkle.frontier_append(frontier, row.leaf)
                    copy.write_row(
                        (staged.batch_id, incident.pk, row.line, row.sha256)
                        + _db_values(row)
                    )
        else:
            pending: list[Row] = []
            for row in _valid_rows(items, errors, staged):
                frontier = merkle.frontier_append(frontier, row.leaf)
                pending.append(Row(row.line, row.sha256, b"", row.values))
                if len(pending) >= SQLITE_BATCH:
                    pickle.dump(pending, staged.file, pickle.HIGHEST_PROTOCOL)
                    pending = []
            pickle.dump(pending, staged.file, pickle.HIGHEST_PROTOCOL)
        if errors:
            shown = len(errors)
            raise InvalidBatch(
                f"{shown}{'+' if shown >= MAX_REPORTED_ERRORS else ''} invalid "
                "line(s); nothing was stored.",
                [error.as_dict() for error in errors],
            )
        if staged.count == 0:
            raise InvalidInput("The body holds no records.")
    except BodyError as error:
        staged.file.close()
        raise (PayloadTooLarge if error.status == 413 else InvalidInput)(
            error.message
        ) from None
    except BaseException:
        staged.file.close()
        raise
    staged.root = merkle.frontier_root(frontier).hex()
    return staged


def _valid_rows(
    items: Iterable[Row | LineError], errors: list[LineError], staged: _Staged
) -> Iterator[Row]:
    """The rows while every line so far is valid; after the first error, only the
    errors are collected (up to MAX_REPORTED_ERRORS, then reading stops)."""
    for item in items:
        if isinstance(item, LineError):
            errors.append(item)
            if len(errors) >= MAX_REPORTED_ERRORS:
                return
            continue
        staged.count += 1
        if not errors:  # once a line failed nothing will be kept; stop staging
            yield item


def _reserve_batch_id() -> int:
    """The next batch id, taken from the sequence without a transaction (a failed
    request leaves a gap, as a rolled-back insert would), so staged rows carry it."""
    table = QueryLogBatch._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [table])
        batch_id: int = cursor.fetchone()[0]
        return batch_id


def _load(
    *,
    incident: Incident,
    by: User,
    spool: BinaryIO,
    staged: _Staged,
    body_sha256: str,
    size: int,
    media_type: str,
    encoding: str,
    idempotency_key: str | None,
) -> QueryLogBatch:
    with transaction.atomic():
        batch = QueryLogBatch.objects.create(
            id=staged.batch_id,
            incident=incident,
            received_by=by,
            idempotency_key=idempotency_key or None,
            content_type=media_type,
            content_encoding=encoding,
            body_sha256=body_sha256,
        )
        _store_rows(batch, incident, staged)
        _store_facets(batch.pk)

        spool.seek(0)
        received = File(spool, name=f"query-log-{body_sha256[:12]}")
        # What HashingUploadHandler leaves on an upload, which evidence_add reads.
        received.size = size
        received.sha256 = body_sha256  # type: ignore[attr-defined]
        received.head = spool.read(8192)  # type: ignore[attr-defined]
        count, root = staged.count, staged.root
        item = evidence_add(
            incident=incident,
            by=by,
            upload=received,
            title=f"Query log batch {batch.pk} ({count} rows)",
            source="detector",
            kind=Evidence.Kind.QUERY_LOG,
            media_type=media_type,
            details={"batch": batch.pk, "rows": count, "merkle_root": root},
        )
        batch.evidence, batch.rows, batch.merkle_root = item, count, root
        batch.save(update_fields=["evidence", "rows", "merkle_root"])
    return batch


def _store_facets(batch_id: int) -> None:
    """The batch's facets, from its rows (all loaded), in the caller's transaction."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Room to group a million rows in memory (measured: 3.7 s instead of
            # 5.5 s spilling to disk); for the rest of this transaction only.
            cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(
            querylog_facets.insert_sql(connection.vendor),
            querylog_facets.insert_parameters(batch_id),
        )


def query_log_facets_backfill() -> list[int]:
    """Write the facets of every loaded batch that has none (loaded before facets
    existed, or while the facet migration ran); returns those batches' ids. Each
    batch is locked and checked again, so concurrent runs write each batch once."""
    missing = (
        QueryLogBatch.objects.filter(evidence__isnull=False, rows__gt=0)
        .exclude(facets__isnull=False)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    written = []
    for batch_id in list(missing):
        with transaction.atomic():
            QueryLogBatch.objects.select_for_update().get(pk=batch_id)
            if QueryLogFacet.objects.filter(batch_id=batch_id).exists():
                continue
            _store_facets(batch_id)
            written.append(batch_id)
    return written


def _store_rows(batch: QueryLogBatch, incident: Incident, staged: _Staged) -> None:
    columns = ("batch_id", "incident_id", "line", "row_sha256", *ROW_COLUMNS)
    if connection.vendor == "postgresql":
        table = querylog_facets.ROWS
        # The raw cursor bypasses Django's error translation; wrapping it makes a lost
        # connection a django.db OperationalError like any other query's (a 503).
        with connection.cursor() as cursor, connection.wrap_database_errors:
            raw = cursor.cursor  # psycopg 3: COPY streams the staged rows in
            with raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for chunk in staged.chunks():
                    copy.write(chunk)
        return
    pending: list[QueryLogRow] = []
    for row in staged.rows():
        pending.append(
            QueryLogRow(
                batch=batch,
                incident=incident,
                line=row.line,
                row_sha256=row.sha256,
                **{
                    **dict(zip(ROW_COLUMNS, row.values, strict=True)),
                    "params": row.values[-2] or {},
                    "extra": row.values[-1] or {},
                },
            )
        )
        if len(pending) >= SQLITE_BATCH:
            QueryLogRow.objects.bulk_create(pending)
            pending = []
    QueryLogRow.objects.bulk_create(pending)


def _db_values(row: Row) -> tuple[Any, ...]:
    values = list(row.values)
    for index in (len(values) - 2, len(values) - 1):  # params, extra as JSON text
        values[index] = orjson.dumps(values[index] or {}).decode()
    return tuple(values)
