"""Reading a case's query-log rows for an analysis, none of them brought into Python
one by one.

1. the accounts and their row counts, from the facets ingestion stored with each
   batch (evidence.querylog_facets);
2. every request time as one array ordered by account and time: on PostgreSQL a
   binary COPY that numpy reads in place, answered from the (incident, account_id,
   timestamp) index alone when the batches are all of the incident's;
3. from the facets again, per linking attribute the (account, value) pairs, the
   prompt hashes of rows logged without text, max_tokens levels and harvesting
   counts: a few rows per account, from which numpy derives who shares what;
4. a deterministic sample of prompt texts (about `prompt_sample` per account, chosen
   by the row's SHA-256, cut to `prompt_chars`), grouped by near-duplication.

On PostgreSQL outside a transaction, (3) and (4) run on connections of their own
from the start, on threads that also do the first work on what they read, while
this thread reads (1) and (2) and measures timing (see Reader). The facets are
checked against the rows each batch was loaded with, and the times against the
facets' counts; a disagreement stops the analysis, naming it.

Why facets: grouping a million rows by five text columns and three jsonb paths
cost PostgreSQL 2.0 s of CPU on every analysis; ingestion now pays it once per
batch, and an analysis reads some hundred thousand narrow rows.

Why not per-hour and per-gap aggregation in SQL: measured on PostgreSQL 15 with a
million rows, a window function over (account, time) took 3.0 s and a per-(account,
hour) CTE 2.2 s; (2) takes 0.3 s, and numpy derives gaps, hours and minutes from the
times in a tenth of a second.

Statements are assembled only from this module's constants (hence the S608 noqa);
every value, batch ids and parameters included, is passed as a query parameter.
"""

import contextlib
import struct
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper

from analysis.engine.columns import Combinations, combination_columns
from analysis.engine.templates import NearDuplicates, near_duplicates
from evidence import querylog_facets
from evidence.models import QueryLogBatch

TABLE = querylog_facets.ROWS
FACETS = querylog_facets.FACETS
MICROSECONDS = 1_000_000
# PostgreSQL's binary timestamps count microseconds from 2000-01-01 UTC.
PG_EPOCH_OFFSET = 946_684_800 * MICROSECONDS
# COPY BINARY: a 19-byte header; an array element is its length (int32) and value.
_PG_HEADER = 19
_PG_ELEMENT = np.dtype([("length", ">i4"), ("value", ">i8")])
PG_ARRAY_ROWS = 16_000_000  # times read per statement; an array holds 2^26 at most


@dataclass
class Facts:
    accounts: list[str]
    counts: np.ndarray  # rows per account (int64)
    times: np.ndarray  # microseconds since 1970, by account (accounts' order), by time
    rows: int
    harvest: np.ndarray  # (accounts, 3): temperature 0, logprobs, n > 1 (int64)
    max_tokens: tuple[np.ndarray, np.ndarray, np.ndarray]  # account, value, rows
    # kind -> (code of the value per (account, value) pair, the values as text,
    # sorted, account per pair).
    attributes: dict[str, tuple[np.ndarray, list[str], np.ndarray]] = field(
        default_factory=dict
    )
    # The same for the prompt hashes of rows logged without text.
    hashed_prompts: tuple[np.ndarray, list[str], np.ndarray] = (
        np.zeros(0, np.int64),
        [],
        np.zeros(0, np.int64),
    )
    # Each sampled row's account, and the near-duplicate groups of their prompts.
    sampled: tuple[np.ndarray, NearDuplicates] | None = None
    sample_fraction: float = 1.0


class _Scope:
    """The rows to read: the batches, or (same rows, faster) their incidents."""

    def __init__(self, batch_ids: list[int]) -> None:
        self.batch_ids = sorted(set(batch_ids))
        batches = QueryLogBatch.objects.filter(pk__in=self.batch_ids)
        self.rows = dict(batches.values_list("pk", "rows"))  # as loaded
        self.expected = sum(self.rows.values())
        incidents = sorted(set(batches.values_list("incident_id", flat=True)))
        every = set(
            QueryLogBatch.objects.filter(incident_id__in=incidents).values_list(
                "pk", flat=True
            )
        )
        self.incidents = incidents if every == set(self.batch_ids) else []

    def where(
        self, alias: str, by_incident: bool = False
    ) -> tuple[str, dict[str, Any]]:
        """`<alias>.batch_id IN (the batches)`, or, by_incident and where the same
        rows, `<alias>.incident_id IN (their incidents)`; with named parameters."""
        column, ids = "batch_id", self.batch_ids or [-1]
        if by_incident and self.incidents:
            column, ids = "incident_id", self.incidents
        names = {f"{column}{i}": value for i, value in enumerate(ids)}
        inside = ", ".join(f"%({name})s" for name in names)
        return f"{alias}.{column} IN ({inside})", names


def _tune(cursor: CursorWrapper, parallel: bool = True) -> None:
    """PostgreSQL, for this transaction only: room to sort and hash in memory, and
    parallel workers even where the planner's estimates would not bother - or none
    at all, for a query that runs beside this process's own work and should leave
    it a core."""
    if connection.vendor == "postgresql":
        cursor.execute("SET LOCAL work_mem = '64MB'")
        if parallel:
            cursor.execute("SET LOCAL parallel_setup_cost = 0")
            cursor.execute("SET LOCAL parallel_tuple_cost = 0")
        else:
            cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")


def _server_encoding() -> str | None:
    encoding: str | None = connection.connection.info.parameter_status(
        "server_encoding"
    )
    return encoding


def _settings_scope() -> contextlib.AbstractContextManager[None]:
    """A transaction on PostgreSQL, where SET LOCAL needs one. None on SQLite: its
    transactions start IMMEDIATE here and would hold the write lock for the whole
    read, making ingestion wait (the batches read are complete either way)."""
    if connection.vendor == "postgresql":
        return transaction.atomic()
    return contextlib.nullcontext()


def _fetch(
    sql: str, params: dict[str, Any], parallel: bool = True, raw: bool = False
) -> list[tuple[Any, ...]]:
    """`raw` (PostgreSQL, on a connection of its own, as the setting would outlive a
    savepoint): text arrives as the database's UTF-8 bytes, neither decoded here nor
    encoded again for hashing (a tenth of a second for the prompt sample's 30 MB)."""
    with _settings_scope(), connection.cursor() as cursor:
        _tune(cursor, parallel)
        if raw and _server_encoding() == "UTF8":
            cursor.execute("SET LOCAL client_encoding = 'SQL_ASCII'")
        cursor.execute(sql, params)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
        return rows


def _accounts(scope: _Scope) -> tuple[list[str], np.ndarray]:
    """(the accounts in account_id order, their row counts), from the facets."""
    where, params = scope.where("f")
    rows = _fetch(
        f"SELECT f.account_id, CAST(SUM(f.rows) AS BIGINT) FROM {FACETS} f "  # noqa: S608
        f"WHERE {where} GROUP BY f.account_id ORDER BY f.account_id",
        params,
    )
    return [a for a, _ in rows], np.array([n for _, n in rows], dtype=np.int64)


def _times(
    scope: _Scope, by_incident: bool, accounts: list[str], counts: np.ndarray
) -> np.ndarray:
    """Every request time, in microseconds since 1970, ordered by account_id (as
    _accounts orders `accounts`, with `counts` rows each) and then by time."""
    where, params = scope.where("r", by_incident)
    if connection.vendor == "postgresql":
        # In ranges of accounts: a PostgreSQL array holds at most 2^26 elements.
        ends = np.cumsum(counts)
        pieces, first = [], 0
        while first < len(accounts):
            # The last account that keeps the range within PG_ARRAY_ROWS (at least
            # the first: an account's times are never split).
            limit = ends[first] - counts[first] + PG_ARRAY_ROWS
            last = int(np.searchsorted(ends, limit, side="right")) - 1
            last = min(max(last, first), len(accounts) - 1)
            ranged, values = where, params
            if first > 0 or last < len(accounts) - 1:
                ranged = f"{where} AND r.account_id BETWEEN %(low)s AND %(high)s"
                values = {**params, "low": accounts[first], "high": accounts[last]}
            pieces.append(_pg_times(ranged, values))
            first = last + 1
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
    # SQLite keeps 'YYYY-MM-DD HH:MM:SS[.ffffff]' in UTC: whole seconds, then micros.
    micros = (
        f"CAST(strftime('%%s', r.timestamp) AS INTEGER) * {MICROSECONDS} + "
        "CAST(COALESCE(NULLIF(substr(r.timestamp, 21, 6), ''), '0') AS INTEGER)"
    )
    times = _fetch(
        f"SELECT {micros} FROM {TABLE} r WHERE {where} "  # noqa: S608
        "ORDER BY r.account_id, r.timestamp",
        params,
    )
    return np.fromiter((t for (t,) in times), dtype=np.int64, count=len(times))


def _pg_times(where: str, params: dict[str, Any]) -> np.ndarray:
    """The times as one array through a binary COPY of one row, which numpy reads in
    place (int64 microseconds since 2000). With the batches all of the incident's,
    PostgreSQL reads them from the (incident, account_id, timestamp) index alone,
    already in order, and the aggregate takes them in that order (no parallel
    workers). (One array per account took 0.35 s of PostgreSQL and 0.6 s of Python
    to take apart for a million rows; this 0.3 s and nothing.)"""
    statement = (
        "COPY (SELECT array_agg(s.t) FROM (SELECT r.timestamp AS t "  # noqa: S608
        f"FROM {TABLE} r WHERE {where} ORDER BY r.account_id, r.timestamp) s) "
        "TO STDOUT (FORMAT binary)"
    )
    buffer = bytearray()
    with transaction.atomic(), connection.cursor() as cursor:
        _tune(cursor, parallel=False)
        with cursor.cursor.copy(statement, params) as copy:
            for chunk in copy:
                buffer += chunk
    # Header, field count (int16), the field's length (int32): -1 is NULL, no rows.
    (length,) = struct.unpack_from(">i", buffer, _PG_HEADER + 2)
    if length < 0:
        return np.zeros(0, dtype=np.int64)
    # The array: dimensions, null flag, element type, size, lower bound, elements.
    (size,) = struct.unpack_from(">i", buffer, _PG_HEADER + 6 + 12)
    elements = np.frombuffer(
        buffer, dtype=_PG_ELEMENT, count=size, offset=_PG_HEADER + 6 + 20
    )
    return elements["value"].astype(np.int64) + PG_EPOCH_OFFSET


def _check_order(counts: np.ndarray, times: np.ndarray) -> None:
    """Times must come sorted within each account's run; a plan that did not keep
    the statement's order would give accounts each other's times."""
    backwards = np.flatnonzero(np.diff(times) < 0) + 1
    if not np.isin(backwards, np.cumsum(counts)).all():
        raise RuntimeError(
            "The database returned request times out of account and time order."
        )


def _check_facets(scope: _Scope) -> None:
    """Each batch's facets must count the rows it was loaded with."""
    where, params = scope.where("f")
    totals: dict[int, int] = dict(
        _fetch(
            f"SELECT f.batch_id, CAST(SUM(f.rows) AS BIGINT) FROM {FACETS} f "  # noqa: S608
            f"WHERE {where} GROUP BY f.batch_id",
            params,
            False,
        )
    )
    wrong = [
        (batch, rows, totals.get(batch, 0))
        for batch, rows in sorted(scope.rows.items())
        if totals.get(batch, 0) != rows
    ]
    if wrong:
        batch, rows, counted = wrong[0]
        more = f" (and {len(wrong) - 1} more)" if len(wrong) > 1 else ""
        raise RuntimeError(
            f"Query-log batch {batch} was loaded with {rows} rows but its facets "
            f"count {counted}{more}. A batch loaded before facets existed gets them "
            "from `manage.py backfill_query_log_facets`; otherwise its stored rows "
            "or facets were changed."
        )


def _facet_statements(
    scope: _Scope, parameters: dict[str, Any]
) -> dict[str, tuple[str, dict[str, Any]]]:
    """One statement per part of Combinations, over the batches' facets; for a
    payment key other than the facets', the payment fingerprints from the rows."""
    where, params = scope.where("f")
    source = f"{FACETS} f WHERE {where}"

    def pairs(value: str, present: str) -> tuple[str, dict[str, Any]]:
        return (
            f"SELECT f.account_id, {value} FROM {source} AND {present} "  # noqa: S608
            "GROUP BY 1, 2",
            params,
        )

    ip = "host(f.ip)" if connection.vendor == "postgresql" else "f.ip"
    key = parameters["payment_key"]
    if key == querylog_facets.PAYMENT_KEY:
        payment = pairs("f.payment_fp", "f.payment_fp <> ''")
    else:
        rows_where, rows_params = scope.where("r")
        value = querylog_facets.payment_value(connection.vendor)
        payment = (
            f"SELECT s.account_id, s.value FROM (SELECT r.account_id, {value} AS value "  # noqa: S608
            f"FROM {TABLE} r WHERE {rows_where}) s WHERE s.value <> '' GROUP BY 1, 2",
            {**rows_params, **querylog_facets.payment_parameters(key)},
        )
    counts = ", ".join(
        f"CAST(SUM(f.{column}) AS BIGINT)"
        for column in ("temperature_zero", "with_logprobs", "several_choices")
    )
    return {
        "ip": pairs(ip, "f.ip IS NOT NULL"),
        "api_key_fp": pairs("f.api_key_fp", "f.api_key_fp <> ''"),
        "org_id": pairs("f.org_id", "f.org_id <> ''"),
        "user_agent": pairs("f.user_agent", "f.user_agent <> ''"),
        "payment_fp": payment,
        # Too short a prompt is no template: "hello" is shared by thousands.
        "hashed": (
            f"SELECT f.account_id, f.prompt_sha256 FROM {source} "  # noqa: S608
            "AND f.prompt_sha256 <> '' "
            "AND COALESCE(f.prompt_tokens, %(shortest)s) >= %(shortest)s GROUP BY 1, 2",
            {**params, "shortest": parameters["min_prompt_tokens"]},
        ),
        "max_tokens": (
            f"SELECT f.account_id, f.max_tokens, CAST(SUM(f.rows) AS BIGINT) "  # noqa: S608
            f"FROM {source} AND f.max_tokens IS NOT NULL GROUP BY 1, 2",
            params,
        ),
        "harvest": (
            f"SELECT f.account_id, {counts} FROM {source} "  # noqa: S608
            "AND f.temperature_zero + f.with_logprobs + f.several_choices > 0 "
            "GROUP BY 1",
            params,
        ),
    }


def _combinations(
    scope: _Scope, parameters: dict[str, Any], accounts: list[str]
) -> Combinations:
    _check_facets(scope)
    statements = _facet_statements(scope, parameters)
    return combination_columns(
        {
            part: _fetch(sql, params, False)
            for part, (sql, params) in statements.items()
        },
        accounts,
    )


def _apply_combinations(facts: Facts, combinations: Combinations) -> None:
    for kind, (account, code, names) in combinations.attributes.items():
        facts.attributes[kind] = (code, names, account)
    account, code, names = combinations.hashed
    facts.hashed_prompts = (code, names, account)
    facts.max_tokens = combinations.max_tokens
    facts.harvest = combinations.harvest


def _sample_rows(
    scope: _Scope, parameters: dict[str, Any], fraction: float, raw: bool = False
) -> list[tuple[Any, ...]]:
    """The prompts (cut to prompt_chars) of the rows whose SHA-256 falls below
    `fraction`: the same rows every time, about prompt_sample per account. `raw`:
    as bytes (see _fetch)."""
    below = "g" if fraction >= 1 else f"{int(fraction * 0xFFFFFFFF):08x}"
    where, params = scope.where("r")
    if connection.vendor == "postgresql":
        cut, sha = "LEFT(r.prompt, %(chars)s)", 'r.row_sha256 COLLATE "C"'
    else:  # SQLite compares text as bytes
        cut, sha = "substr(r.prompt, 1, %(chars)s)", "r.row_sha256"
    return _fetch(
        f"SELECT r.account_id, {cut} FROM {TABLE} r WHERE {where} "  # noqa: S608
        f"AND r.prompt <> '' AND {sha} < %(below)s",
        {**params, "chars": parameters["prompt_chars"], "below": below},
        False,
        raw,
    )


@dataclass
class Sample:
    accounts: np.ndarray  # each sampled row's account (position)
    prompts: NearDuplicates


def _sample(
    scope: _Scope,
    parameters: dict[str, Any],
    fraction: float,
    accounts: list[str],
    own_connection: bool = False,
) -> Sample:
    """The sampled rows' accounts and the near-duplicate groups of their prompts.
    `own_connection`: on a thread's own connection, read raw and closed once read."""
    try:
        rows = _sample_rows(scope, parameters, fraction, raw=own_connection)
    finally:
        if own_connection:
            connection.close()  # before the grouping, which needs no database
    # str, or bytes when read raw; the texts are bytes once encoded below.
    owners: Sequence[Any]
    texts: Sequence[Any]
    index: dict[str, int] | dict[bytes, int]
    owners, texts = list(zip(*rows, strict=True)) or [(), ()]
    if owners and isinstance(owners[0], bytes):  # raw (see _fetch)
        index = {account.encode(): i for i, account in enumerate(accounts)}
    else:
        index = dict(zip(accounts, range(len(accounts)), strict=True))
        texts = [text.encode() for text in texts]
    return Sample(
        np.fromiter(map(index.__getitem__, owners), np.int64, len(owners)),
        near_duplicates(list(texts), parameters),
    )


_T = TypeVar("_T")


def _on_own_connection(function: Callable[..., _T], *args: Any) -> _T:
    try:
        return function(*args)
    finally:
        connection.close()  # this thread's connection


class Reader:
    """Reads a case's rows for one analysis.

    On PostgreSQL outside a transaction, the prompt sample and the combinations are
    read from the start on connections of their own, by threads that also do the
    first work on what they read (the near-duplicate groups of the prompts, the
    combinations' numpy columns) while this thread reads the request times and
    measures timing. Neither query uses parallel workers: a 2-core machine is busy
    already. Inside a transaction (tests) or on SQLite, each read happens when asked
    for, on this connection, so it sees the same data.
    """

    def __init__(self, batch_ids: list[int], parameters: dict[str, Any]) -> None:
        self.scope = _Scope(batch_ids)
        self.parameters = parameters
        self.pool: ThreadPoolExecutor | None = None
        self.jobs: dict[str, Future[Any]] = {}
        self.fraction = 1.0

    def facts(self, progress: Callable[[int, str], None]) -> Facts:
        scope = self.scope
        progress(2, "Reading accounts and request times")
        accounts, counts = _accounts(scope)
        rows = int(counts.sum())
        # About prompt_sample rows per account.
        self.fraction = min(
            1.0, self.parameters["prompt_sample"] * max(1, len(accounts)) / max(1, rows)
        )
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            # The sample first: its scan of the table and the grouping of its texts
            # take longest.
            self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="analysis")
            self.jobs["sample"] = self.pool.submit(
                _sample, scope, self.parameters, self.fraction, accounts, True
            )
            self.jobs["combinations"] = self.pool.submit(
                _on_own_connection, _combinations, scope, self.parameters, accounts
            )
        if rows != scope.expected:
            _check_facets(scope)  # names the batch
        by_incident = bool(scope.incidents)
        times = _times(scope, by_incident, accounts, counts)
        if by_incident and len(times) != rows:
            # Rows came under the incident since: read the batches themselves.
            times = _times(scope, False, accounts, counts)
        if len(times) != rows:
            raise RuntimeError(
                f"The batches hold {len(times)} query-log rows but were loaded with "
                f"{rows}: their stored rows were changed."
            )
        _check_order(counts, times)
        return Facts(
            accounts=accounts,
            counts=counts,
            times=times,
            rows=rows,
            harvest=np.zeros((len(accounts), 3), dtype=np.int64),
            max_tokens=(np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64)),
        )

    def _result(self, name: str, function: Callable[..., Any], *args: Any) -> Any:
        job = self.jobs.get(name)
        return job.result() if job is not None else function(*args)

    def sample(self, facts: Facts) -> None:
        found: Sample = self._result(
            "sample",
            _sample,
            self.scope,
            self.parameters,
            self.fraction,
            facts.accounts,
        )
        facts.sampled = (found.accounts, found.prompts)
        facts.sample_fraction = self.fraction

    def combinations(self, facts: Facts) -> None:
        found = self._result(
            "combinations", _combinations, self.scope, self.parameters, facts.accounts
        )
        _apply_combinations(facts, found)

    def close(self) -> None:
        if self.pool is not None:
            for job in self.jobs.values():
                job.cancel()
            self.pool.shutdown(wait=True)
            self.pool = None
