"""Reading a case's query-log rows: three SQL statements, none of which brings rows
of text into Python one by one.

1. every account with all its request times as one array (GROUP BY account_id,
   ordered); on PostgreSQL a binary COPY that numpy reads in place, answered from the
   (incident, account_id, timestamp) index alone when the batches are all of the
   incident's;
2. one GROUP BY over the combinations of (account, IP, key, organisation, client,
   payment fingerprint, max_tokens, prompt hash of rows without text) with counts of
   harvesting parameters: a few rows per account, from which numpy derives who shares
   which value and each account's harvesting counts;
3. a deterministic sample of prompt texts (about `prompt_sample` per account, chosen
   by the row's SHA-256, cut to `prompt_chars`).

On PostgreSQL outside a transaction, (2) and (3) run on connections of their own
while this thread reads (1), measures timing and matches templates (see Reader).

Why not per-hour and per-gap aggregation in SQL: measured on PostgreSQL 15 with a
million rows, a window function over (account, time) took 3.0 s and a per-(account,
hour) CTE 2.2 s; (1) takes 0.25 s, and numpy derives gaps, hours and minutes from the
times in a tenth of a second.

Statements are assembled only from this module's constants (hence the S608 noqa);
every value, batch ids and parameters included, is passed as a query parameter.
"""

import contextlib
import struct
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from django.db import connection, transaction

from analysis.engine.columns import Combinations, combination_columns
from evidence.models import QueryLogBatch, QueryLogRow

TABLE = QueryLogRow._meta.db_table
MICROSECONDS = 1_000_000
# PostgreSQL's binary timestamps count microseconds from 2000-01-01 UTC.
PG_EPOCH_OFFSET = 946_684_800 * MICROSECONDS
# COPY BINARY: a 19-byte header; an array element is its length (int32) and value.
_PG_HEADER = 19
_PG_ELEMENT = np.dtype([("length", ">i4"), ("value", ">i8")])


@dataclass
class Facts:
    accounts: list[str]
    counts: np.ndarray  # rows per account (int64)
    times: np.ndarray  # microseconds since 1970, by account (accounts' order), by time
    rows: int
    harvest: np.ndarray  # (accounts, 3): temperature 0, logprobs, n > 1 (int64)
    max_tokens: tuple[np.ndarray, np.ndarray, np.ndarray]  # account, value, rows
    # kind -> (code of the value per combination, the values as text (sorted, '' for
    # none), account per combination).
    attributes: dict[str, tuple[np.ndarray, list[str], np.ndarray]] = field(
        default_factory=dict
    )
    # The same for the prompt hash of rows logged without text.
    hashed_prompts: tuple[np.ndarray, list[str], np.ndarray] = (
        np.zeros(0, np.int64),
        [],
        np.zeros(0, np.int64),
    )
    sampled: tuple[np.ndarray, list[bytes]] = (np.zeros(0, np.int64), [])  # UTF-8
    sample_fraction: float = 1.0


class _Scope:
    """The rows to read: the batches, or (same rows, faster) their incidents."""

    def __init__(self, batch_ids: list[int]) -> None:
        self.batch_ids = sorted(set(batch_ids))
        batches = QueryLogBatch.objects.filter(pk__in=self.batch_ids)
        self.expected = sum(batches.values_list("rows", flat=True))
        incidents = sorted(set(batches.values_list("incident_id", flat=True)))
        every = set(
            QueryLogBatch.objects.filter(incident_id__in=incidents).values_list(
                "pk", flat=True
            )
        )
        self.incidents = incidents if every == set(self.batch_ids) else []

    def where(self, by_incident: bool = False) -> tuple[str, list]:
        if by_incident and self.incidents:
            ids = self.incidents
            return f"r.incident_id IN ({', '.join(['%s'] * len(ids))})", list(ids)
        ids = self.batch_ids or [-1]
        return f"r.batch_id IN ({', '.join(['%s'] * len(ids))})", list(ids)


def _tune(cursor, parallel: bool = True) -> None:
    """PostgreSQL, for this transaction only: room to sort and hash in memory, and
    parallel workers even where the planner's estimates would not bother (measured on
    the attribute GROUP BY alone: 1.5 s instead of 1.9 s) - or none at all, for a
    query that runs beside this process's own work and should leave it a core."""
    if connection.vendor == "postgresql":
        cursor.execute("SET LOCAL work_mem = '64MB'")
        if parallel:
            cursor.execute("SET LOCAL parallel_setup_cost = 0")
            cursor.execute("SET LOCAL parallel_tuple_cost = 0")
        else:
            cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")


def _server_encoding() -> str | None:
    return connection.connection.info.parameter_status("server_encoding")


def _settings_scope():
    """A transaction on PostgreSQL, where SET LOCAL needs one. None on SQLite: its
    transactions start IMMEDIATE here and would hold the write lock for the whole
    read, making ingestion wait (the batches read are complete either way)."""
    if connection.vendor == "postgresql":
        return transaction.atomic()
    return contextlib.nullcontext()


def _fetch(
    sql: str, params: list, parallel: bool = True, raw: bool = False
) -> list[tuple]:
    """`raw` (PostgreSQL, on a connection of its own, as the setting would outlive a
    savepoint): text arrives as the database's UTF-8 bytes, neither decoded here nor
    encoded again for hashing (a tenth of a second for the prompt sample's 30 MB)."""
    with _settings_scope(), connection.cursor() as cursor:
        _tune(cursor, parallel)
        if raw and _server_encoding() == "UTF8":
            cursor.execute("SET LOCAL client_encoding = 'SQL_ASCII'")
        cursor.execute(sql, params)
        return cursor.fetchall()


def _account_times(
    scope: _Scope, by_incident: bool
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(accounts in account_id order, their row counts, all request times grouped
    the same way and sorted within each account)."""
    where, params = scope.where(by_incident)
    if connection.vendor == "postgresql":
        return _pg_account_times(where, params)
    rows = _fetch(
        f"SELECT r.account_id, COUNT(*) FROM {TABLE} r WHERE {where} "  # noqa: S608
        "GROUP BY r.account_id ORDER BY r.account_id",
        params,
    )
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
    return (
        [a for a, _ in rows],
        np.array([n for _, n in rows], dtype=np.int64),
        np.fromiter((t for (t,) in times), dtype=np.int64, count=len(times)),
    )


def _pg_account_times(
    where: str, params: list
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """One array of times per account through a binary COPY: with the batches all of
    the incident's, PostgreSQL reads them from the (incident, account_id, timestamp)
    index alone, already in order; numpy reads the arrays' int64 microseconds since
    2000 straight from the bytes. (A COPY of one row per request took 0.7 s for a
    million rows, this 0.25 s.)"""
    statement = (
        f"COPY (SELECT r.account_id, array_agg(r.timestamp ORDER BY r.timestamp) "  # noqa: S608
        f"FROM {TABLE} r WHERE {where} GROUP BY r.account_id ORDER BY r.account_id) "
        "TO STDOUT (FORMAT binary)"
    )
    buffer = bytearray()
    with transaction.atomic(), connection.cursor() as cursor:
        _tune(cursor)
        with cursor.cursor.copy(statement, params) as copy:
            for chunk in copy:
                buffer += chunk
    accounts, counts, pieces = [], [], []
    position = _PG_HEADER
    while struct.unpack_from(">h", buffer, position)[0] != -1:
        (length,) = struct.unpack_from(">i", buffer, position + 2)
        position += 6
        accounts.append(buffer[position : position + length].decode())
        position += length
        (length,) = struct.unpack_from(">i", buffer, position)
        # Array: dimensions, null flag, element type, size, lower bound, elements.
        (size,) = struct.unpack_from(">i", buffer, position + 16)
        pieces.append(
            np.frombuffer(buffer, dtype=_PG_ELEMENT, count=size, offset=position + 24)
        )
        counts.append(size)
        position += 4 + length
    times = (
        np.concatenate([piece["value"] for piece in pieces]).astype(np.int64)
        if pieces
        else np.zeros(0, dtype=np.int64)
    )
    return accounts, np.array(counts, dtype=np.int64), times + PG_EPOCH_OFFSET


def _combination_sql(where: str, parameters: dict) -> tuple[str, list, list]:
    """(statement, parameters before the WHERE clause's, parameters after it)."""
    key = parameters["payment_key"]
    shortest = parameters["min_prompt_tokens"]
    # Rows logged without text compare by hash, unless the prompt is too short to be
    # a template: the hash of "hello" is shared by thousands of honest users.
    hashed = (
        "CASE WHEN r.prompt = '' AND COALESCE(r.prompt_tokens, %s) >= %s "
        "THEN r.prompt_sha256 ELSE '' END"
    )
    if connection.vendor == "postgresql":
        # Grouped by the raw values (an inet, jsonb) and turned into text once per
        # group, not per row: 2.0 s instead of 2.3 s for a million rows.
        columns = (
            "COALESCE(host(r.ip), '')",
            "r.api_key_fp",
            "r.org_id",
            "r.user_agent",
            "COALESCE((r.extra -> %s) #>> '{}', '')",
            "CASE WHEN jsonb_typeof(r.params -> 'max_tokens') = 'number' "
            "THEN ((r.params -> 'max_tokens') #>> '{}')::numeric END",
        )
        groups = (
            "r.account_id, r.ip, r.api_key_fp, r.org_id, r.user_agent, "
            "r.extra -> %s, r.params -> 'max_tokens', 8"
        )
        flags = (
            # Containment compares numbers as numbers (0.0 too), as = did, without
            # extracting the value first: 0.05 s less for a million rows.
            """r.params @> '{"temperature": 0}'::jsonb""",
            "r.params -> 'logprobs' = 'true'::jsonb OR (r.params -> 'logprobs' > "
            "'0'::jsonb AND r.params -> 'logprobs' < 'false'::jsonb)",
            "r.params -> 'n' > '1'::jsonb AND r.params -> 'n' < 'false'::jsonb",
        )
        before, after = [key, shortest, shortest], [key]
    else:

        def typed(path: str) -> str:
            return f"json_type(r.params, '$.{path}') IN ('integer', 'real')"

        columns = (
            "COALESCE(r.ip, '')",
            "r.api_key_fp",
            "r.org_id",
            "r.user_agent",
            "COALESCE(CAST(json_extract(r.extra, %s) AS TEXT), '')",
            f"CASE WHEN {typed('max_tokens')} "
            "THEN json_extract(r.params, '$.max_tokens') END",
        )
        groups = "1, 2, 3, 4, 5, 6, 7, 8"
        flags = (
            f"{typed('temperature')} AND json_extract(r.params, '$.temperature') = 0",
            f"json_type(r.params, '$.logprobs') = 'true' OR ({typed('logprobs')} AND "
            "json_extract(r.params, '$.logprobs') > 0)",
            f"{typed('n')} AND json_extract(r.params, '$.n') > 1",
        )
        before, after = [f'$."{key}"', shortest, shortest], []
    counted = ", ".join(f"COUNT(*) FILTER (WHERE {flag})" for flag in flags)
    sql = (
        f"SELECT r.account_id, {', '.join(columns)}, {hashed}, COUNT(*), {counted} "  # noqa: S608
        f"FROM {TABLE} r WHERE {where} GROUP BY {groups}"
    )
    return sql, before, after


def _combination_rows(
    scope: _Scope, parameters: dict, parallel: bool = True
) -> list[tuple]:
    where, params = scope.where()
    sql, before, after = _combination_sql(where, parameters)
    return _fetch(sql, before + params + after, parallel)


def _combinations(
    scope: _Scope, parameters: dict, parallel: bool = True
) -> Combinations:
    return combination_columns(_combination_rows(scope, parameters, parallel))


def _apply_combinations(facts: Facts, combinations: Combinations) -> None:
    index = {account: i for i, account in enumerate(facts.accounts)}
    account = np.fromiter(
        map(index.__getitem__, combinations.accounts),
        np.int64,
        len(combinations.accounts),
    )
    for kind, (code, names) in combinations.attributes.items():
        facts.attributes[kind] = (code, names, account)
    tallies = combinations.tallies
    facts.max_tokens = (account, combinations.max_tokens, tallies[0])
    facts.harvest = np.zeros((len(facts.accounts), 3), dtype=np.int64)
    for column in range(3):
        facts.harvest[:, column] = np.bincount(
            account, weights=tallies[column + 1], minlength=len(facts.accounts)
        )
    facts.hashed_prompts = (*combinations.hashed, account)


def _sample_rows(
    scope: _Scope, parameters: dict, fraction: float, raw: bool = False
) -> list[tuple]:
    """The prompts (cut to prompt_chars) of the rows whose SHA-256 falls below
    `fraction`: the same rows every time, about prompt_sample per account. `raw`:
    as bytes (see _fetch)."""
    below = "g" if fraction >= 1 else f"{int(fraction * 0xFFFFFFFF):08x}"
    where, params = scope.where()
    if connection.vendor == "postgresql":
        cut, sha = "LEFT(r.prompt, %s)", 'r.row_sha256 COLLATE "C"'
    else:
        cut, sha = "substr(r.prompt, 1, %s)", "r.row_sha256"
    return _fetch(
        f"SELECT r.account_id, {cut} FROM {TABLE} r WHERE {where} "  # noqa: S608
        f"AND r.prompt <> '' AND {sha} < %s",
        [parameters["prompt_chars"], *params, below],
        False,
        raw,
    )


def _on_own_connection(function, *args):
    try:
        return function(*args)
    finally:
        connection.close()  # this thread's connection


class Reader:
    """Reads a case's rows for one analysis.

    On PostgreSQL outside a transaction, the two scans of the table's heap run on
    connections of their own while this thread works: the combinations from the
    start (the thread that fetches them also makes them numpy columns, beside this
    thread's numpy work), the prompt sample once the times tell how much to sample.
    Neither uses parallel workers: with the two scans and this thread, a 2-core
    machine is busy already (a parallel sample made the whole 0.2 s slower). Inside
    a transaction (tests) or on SQLite, each read happens when asked for, on this
    connection, so it sees the same data.
    """

    def __init__(self, batch_ids: list[int], parameters: dict) -> None:
        self.scope = _Scope(batch_ids)
        self.parameters = parameters
        self.pool: ThreadPoolExecutor | None = None
        self.jobs: dict[str, Future] = {}
        self.fraction = 1.0

    def facts(self, progress) -> Facts:
        scope = self.scope
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            # Started first: it needs nothing from the others, and takes longest.
            self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="analysis")
            self.jobs["combinations"] = self.pool.submit(
                _on_own_connection, _combinations, scope, self.parameters, False
            )
        progress(2, "Reading accounts and request times")
        by_incident = bool(scope.incidents)
        accounts, counts, times = _account_times(scope, by_incident)
        if by_incident and len(times) != scope.expected:
            # Rows came or went under the incident: read the batches themselves.
            accounts, counts, times = _account_times(scope, False)
        rows = len(times)
        self.fraction = min(
            1.0, self.parameters["prompt_sample"] * max(1, len(accounts)) / max(1, rows)
        )
        if self.pool is not None:
            # On a connection of its own too, so this thread can work on the times
            # meanwhile.
            self.jobs["sample"] = self.pool.submit(
                _on_own_connection,
                _sample_rows,
                scope,
                self.parameters,
                self.fraction,
                True,
            )
        return Facts(
            accounts=accounts,
            counts=counts,
            times=times,
            rows=rows,
            harvest=np.zeros((len(accounts), 3), dtype=np.int64),
            max_tokens=(np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64)),
            sample_fraction=self.fraction,
        )

    def _result(self, name: str, function, *args) -> list[tuple]:
        job = self.jobs.get(name)
        return job.result() if job is not None else function(*args)

    def sample(self, facts: Facts) -> None:
        rows = self._result(
            "sample", _sample_rows, self.scope, self.parameters, self.fraction
        )
        accounts, texts = list(zip(*rows, strict=True)) or [(), ()]
        if accounts and isinstance(accounts[0], bytes):  # raw (see _fetch)
            index = {a.encode(): i for i, a in enumerate(facts.accounts)}
        else:
            index = {account: i for i, account in enumerate(facts.accounts)}
            texts = [text.encode() for text in texts]
        account = np.fromiter(map(index.__getitem__, accounts), np.int64, len(rows))
        facts.sampled = (account, list(texts))

    def combinations(self, facts: Facts) -> None:
        found = self._result("combinations", _combinations, self.scope, self.parameters)
        _apply_combinations(facts, found)

    def close(self) -> None:
        if self.pool is not None:
            for job in self.jobs.values():
                job.cancel()
            self.pool.shutdown(wait=True)
            self.pool = None
