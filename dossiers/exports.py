"""The full query-log export attached to a dossier: every row as CSV with its trace
(batch, line, row hash), in time order.

On PostgreSQL the server writes the CSV itself (`COPY ... TO STDOUT`) and we only pass
its chunks on: a million rows take seconds instead of minutes in a Python CSV writer.
Other databases (SQLite in development) take the row-by-row path. Both give the same
columns and values; the bytes differ in form only: COPY quotes empty strings ("") to
tell them from NULL, and writes JSON as jsonb prints it (keys by length, then bytes),
where Python sorts keys. The attachment's SHA-256 in the manifest is of the bytes as
written.

The export is made for people to open in a spreadsheet, where a cell the detector's
log fed with `=HYPERLINK(...)` would run as a formula. So, following OWASP's CSV
injection guidance, every text cell from the log that begins with = + - @, a tab or a
carriage return is written with a single quote before it (on both paths). The bytes
as received stay untouched in the batch's evidence item, and each row's `row_sha256`
is of its canonical form there, not of the neutralised cells.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Protocol

from django.db import connection

from config.rfc3339 import format_utc
from evidence.models import QueryLogRow
from evidence.querylog_parsing import ROW_COLUMNS
from incidents.models import Incident

COLUMNS = ("batch", "line", "row_sha256", *ROW_COLUMNS)
# Free text written by whoever produced the log (the rest are numbers, hashes checked
# as hexadecimal, addresses, times and JSON objects, which cannot begin a formula).
FREE_TEXT = (
    "account_id",
    "request_id",
    "org_id",
    "api_key_fp",
    "user_agent",
    "model",
    "prompt",
    "response",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
DESCRIPTION = (
    "Every query-log row with its trace. Made to be opened in a spreadsheet: a text "
    "cell that begins with = + - @, a tab or a carriage return has a single quote "
    "(') put before it, so it shows as text and never runs as a formula; the bytes "
    "as received are unchanged in each batch's exhibit."
)


def spreadsheet_safe(value: str) -> str:
    """The cell as text a spreadsheet will not evaluate (OWASP CSV injection)."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


class BinarySink(Protocol):
    def write(self, data: bytes, /) -> int: ...


def query_log_export(
    incident: Incident, batch_ids: list[int], sink: BinarySink
) -> None:
    """The rows of `batch_ids` (the batches the dossier's snapshot lists: a batch
    that lands while the dossier renders is in neither)."""
    if connection.vendor == "postgresql":
        _copy_from_postgresql(incident, batch_ids, sink)
    else:
        _write_row_by_row(incident, batch_ids, sink)


def _copy_from_postgresql(
    incident: Incident, batch_ids: list[int], sink: BinarySink
) -> None:
    table = QueryLogRow._meta.db_table
    # Columns are qualified: "timestamp" alone would name the text column below.
    selected = []
    for column in COLUMNS:
        if column == "batch":
            selected.append('q."batch_id" AS "batch"')
        elif column == "timestamp":
            # The same text as format_utc(): UTC, microseconds, a literal Z.
            selected.append(
                "to_char(q.\"timestamp\" AT TIME ZONE 'UTC', "
                '\'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\') AS "timestamp"'
            )
        elif column == "ip":
            selected.append('host(q."ip") AS "ip"')
        elif column in ("params", "extra"):
            selected.append(f'q."{column}"::text AS "{column}"')
        elif column in FREE_TEXT:
            # spreadsheet_safe() in SQL; chr(9) and chr(13) are tab and CR.
            cell = f'q."{column}"'
            selected.append(
                f"CASE WHEN left({cell}, 1) IN ('=', '+', '-', '@', chr(9), chr(13)) "
                f"THEN '''' || {cell} ELSE {cell} END AS \"{column}\""
            )
        else:
            selected.append(f'q."{column}"')
    # Built from this module's constants only; the incident is a bound parameter.
    query = (
        f"COPY (SELECT {', '.join(selected)} FROM {table} AS q "  # noqa: S608
        'WHERE q."incident_id" = %s AND q."batch_id" = ANY(%s) '
        'ORDER BY q."timestamp", q."id") '
        "TO STDOUT WITH (FORMAT csv, HEADER true)"
    )
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor: Django's wrapper has no copy()
        with raw.copy(query, (incident.pk, list(batch_ids))) as copy:
            for chunk in copy:
                sink.write(chunk)


def _write_row_by_row(
    incident: Incident, batch_ids: list[int], sink: BinarySink
) -> None:
    fields = ["batch_id", *COLUMNS[1:]]
    rows = (
        QueryLogRow.objects.filter(incident=incident, batch_id__in=batch_ids)
        .order_by("timestamp", "id")
        .values_list(*fields)
        .iterator(chunk_size=5000)
    )
    text = io.TextIOWrapper(  # type: ignore[type-var]  # TextIOWrapper accepts any binary stream
        _Unclosable(sink), encoding="utf-8", newline="", write_through=False
    )
    # "\r\n" ends each row as the csv module writes it, so it quotes every value
    # holding a carriage return or a newline (with "\n" alone a lone CR went out
    # unquoted and broke the row); _LineFeedRows ends rows with "\n", as COPY does.
    writer = csv.writer(_LineFeedRows(text), lineterminator="\r\n")
    writer.writerow(COLUMNS)
    timestamp, params, extra = (
        fields.index("timestamp"),
        fields.index("params"),
        fields.index("extra"),
    )
    free_text = [fields.index(column) for column in FREE_TEXT]
    for row in rows:
        row = list(row)
        for index in free_text:
            row[index] = spreadsheet_safe(row[index])
        row[timestamp] = format_utc(row[timestamp])
        row[params] = json.dumps(row[params], sort_keys=True, ensure_ascii=False)
        row[extra] = json.dumps(row[extra], sort_keys=True, ensure_ascii=False)
        writer.writerow(row)
    text.flush()
    text.detach()


class _LineFeedRows:
    """Takes the csv writer's rows (one write each) and ends them with "\n"."""

    def __init__(self, text: io.TextIOBase) -> None:
        self._text = text

    def write(self, row: str) -> int:
        return self._text.write(row[:-2] + "\n")


class _Unclosable(io.RawIOBase):
    """Lets a TextIOWrapper write into the sink without owning it."""

    def __init__(self, sink: BinarySink) -> None:
        self._sink = sink

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        return self._sink.write(bytes(data))
