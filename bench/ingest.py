"""`make bench`: query-log ingestion through the real HTTP stack against a bare COPY.

Generates BENCH_ROWS (default 1,000,000) realistic rows as gzip NDJSON, posts them to
a gunicorn worker as a detection tool would, then loads the same rows with a bare
psycopg COPY into a scratch table with the same columns, indexes and constraints.
Prints rows/s and MB/s for both, their ratio and the server's peak RSS. It reports;
it does not gate: the exit status is non-zero only when something failed.

PostgreSQL comes from DATABASE_URL, by default postgres://postgres@127.0.0.1:5432/
casebook_bench. The bench drops and recreates that database on every run, so it
refuses any other database name unless BENCH_RESET=1 says it may do the same there.
BENCH_KEEP=1 leaves the database behind afterwards; BENCH_SEED changes the rows.
"""

import contextlib
import gzip
import hashlib
import http.client
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import orjson
import psycopg
from psycopg import sql

from bench import rows as generator

BASE_DIR = Path(__file__).resolve().parent.parent
BENCH_DATABASE = "casebook_bench"
DEFAULT_DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{BENCH_DATABASE}"
TABLE = "evidence_querylogrow"
SCRATCH = "bench_querylogrow_copy"
# Same order as evidence.services.querylogs._store_rows writes them.
COLUMNS = (
    "batch_id",
    "incident_id",
    "line",
    "row_sha256",
    "timestamp",
    "account_id",
    "request_id",
    "org_id",
    "api_key_fp",
    "ip",
    "user_agent",
    "model",
    "prompt",
    "prompt_sha256",
    "response",
    "response_sha256",
    "prompt_tokens",
    "completion_tokens",
    "params",
    "extra",
)
TEXT_FIELDS = ("account_id", "request_id", "org_id", "api_key_fp")
TARGET_RATIO = 0.50
TARGET_RSS_MIB = 300
CHUNK = 1024 * 1024
MB = 1_000_000


class BenchError(Exception):
    """Something the operator must fix; printed without a traceback."""


@dataclass
class Database:
    host: str
    port: int
    user: str
    password: str
    name: str
    url: str

    @classmethod
    def from_url(cls, url: str) -> "Database":
        parts = urlsplit(url)
        if parts.scheme not in ("postgres", "postgresql", "pgsql", "psql"):
            raise BenchError(
                f"The benchmark needs PostgreSQL; DATABASE_URL is '{parts.scheme}:'. "
                f"Unset it to use {DEFAULT_DATABASE_URL}."
            )
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password or ""),
            name=unquote(parts.path.lstrip("/")) or BENCH_DATABASE,
            url=url,
        )

    def conninfo(self, name: str | None = None) -> str:
        options = {"host": self.host, "port": self.port, "user": self.user}
        if self.password:
            options["password"] = self.password
        return psycopg.conninfo.make_conninfo(dbname=name or self.name, **options)

    def connect(self, name: str | None = None, **kwargs) -> psycopg.Connection:
        return psycopg.connect(self.conninfo(name), connect_timeout=5, **kwargs)


@dataclass
class Timing:
    seconds: float
    rows: int
    uncompressed_bytes: int
    detail: str = ""

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds

    @property
    def mb_per_second(self) -> float:
        return self.uncompressed_bytes / MB / self.seconds


@dataclass
class Memory:
    """Peak resident memory of a gunicorn master and its workers, from /proc."""

    master: int
    peak_kib: dict[int, int] = field(default_factory=dict)

    def pids(self) -> list[int]:
        found = [self.master]
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == self.master:
                found.append(int(entry.name))
        return found

    def sample(self) -> None:
        for pid in self.pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    kib = int(line.split()[1])
                    self.peak_kib[pid] = max(self.peak_kib.get(pid, 0), kib)

    @property
    def peak_mib(self) -> float:
        return max(self.peak_kib.values(), default=0) / 1024

    def watch(self, stop: threading.Event, every: float = 0.25) -> threading.Thread:
        def loop() -> None:
            while not stop.wait(every):
                self.sample()

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        return thread


def say(message: str) -> None:
    print(message, flush=True)


def bench_database() -> Database:
    database = Database.from_url(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    if database.name != BENCH_DATABASE and os.environ.get("BENCH_RESET") != "1":
        raise BenchError(
            f"The benchmark drops and recreates its database, and DATABASE_URL names "
            f"'{database.name}'. Point it at .../{BENCH_DATABASE} (or unset it), or "
            f"set BENCH_RESET=1 to let the benchmark drop '{database.name}'."
        )
    return database


def database_reset(database: Database) -> str:
    try:
        admin = database.connect("postgres", autocommit=True)
    except psycopg.OperationalError as error:
        raise BenchError(
            f"PostgreSQL is not reachable at {database.host}:{database.port} "
            f"as {database.user}: {str(error).strip()}\n"
            "Start it (e.g. `pg_ctlcluster 15 main start`) or point DATABASE_URL at "
            "one (postgres://user:password@host:5432/casebook_bench)."
        ) from None
    with admin:
        name = sql.Identifier(database.name)
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(name))
        return admin.execute("SHOW server_version").fetchone()[0].split()[0]


def database_drop(database: Database) -> None:
    with database.connect("postgres", autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(database.name)
            )
        )


def server_env(database: Database, scratch: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database.url,
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        # Evidence bytes and the checkpoint key of this throwaway database stay with it.
        "CASEBOOK_MEDIA_ROOT": str(scratch / "media"),
        "CUSTODY_SIGNING_KEY_PATH": str(scratch / "keys" / "custody-ed25519.pem"),
        "LOG_LEVEL": "WARNING",
    }


def prepare(env: dict[str, str]) -> tuple[str, str]:
    """Migrate, then make an analyst's incident and a detector with an ingest token.

    Runs Django in this process with the server's settings; returns (reference, token).
    """
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from accounts.models import ApiToken, User
    from accounts.services import api_token_create, user_create
    from incidents.models import Incident
    from incidents.services import incident_open, membership_add

    call_command("migrate", interactive=False, verbosity=0)
    analyst = user_create(username="bench-analyst", role=User.Role.ANALYST)
    detector = user_create(username="bench-detector", role=User.Role.SERVICE)
    incident = incident_open(
        by=analyst,
        title="Benchmark: distillation traffic",
        kind=Incident.Kind.DISTILLATION,
        severity=Incident.Severity.HIGH,
    )
    membership_add(incident=incident, user=detector, by=analyst)
    _, token = api_token_create(
        user=detector, name="bench detector", scope=ApiToken.Scope.INGEST, days=1
    )
    connections.close_all()
    return incident.reference, token


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    command = [
        str(BASE_DIR / ".venv" / "bin" / "gunicorn"),
        "config.wsgi",
        "--workers",
        "1",
        "--bind",
        f"127.0.0.1:{port}",
        "--timeout",
        "3600",
        "--log-level",
        "warning",
    ]
    with log.open("wb") as out:
        return subprocess.Popen(  # noqa: S603  (our own venv's gunicorn)
            command, cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT
        )


def _request(port: int, method: str, path: str, headers: dict, body=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _wait_until_serving(
    server: subprocess.Popen, port: int, path: str, token: str, log: Path
) -> None:
    """Until the worker answers an authenticated API request, which also imports the
    app and opens its database connection. An ingest token may not read the rows, so
    403 is the answer expected."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise BenchError(f"gunicorn exited:\n{log.read_text()[-3000:]}")
        try:
            status, body = _request(
                port, "GET", path, {"Authorization": f"Bearer {token}"}
            )
        except OSError:
            time.sleep(0.2)
            continue
        if status not in (200, 403):
            raise BenchError(f"GET {path} answered {status}: {body[:500]!r}")
        return
    raise BenchError(f"gunicorn did not answer within 60 s:\n{log.read_text()[-3000:]}")


def _post(port: int, path: str, token: str, body: Path) -> tuple[float, float, dict]:
    """Stream the gzip file as the request body; returns (sent_at, answered_at, json)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    started = time.perf_counter()
    connection.putrequest("POST", path, skip_accept_encoding=True)
    for name, value in (
        ("Authorization", f"Bearer {token}"),
        ("Content-Type", "application/x-ndjson"),
        ("Content-Encoding", "gzip"),
        ("Content-Length", str(body.stat().st_size)),
        ("Idempotency-Key", f"bench-{secrets.token_hex(8)}"),
        ("Accept", "application/json"),
    ):
        connection.putheader(name, value)
    connection.endheaders()
    with body.open("rb") as source:
        while chunk := source.read(CHUNK):
            connection.send(chunk)
    sent = time.perf_counter() - started
    response = connection.getresponse()
    payload = response.read()
    answered = time.perf_counter() - started
    connection.close()
    if response.status != 201:
        raise BenchError(f"POST {path} answered {response.status}: {payload[:2000]!r}")
    return sent, answered, orjson.loads(payload)


def run_api(
    database: Database, scratch: Path, body: Path, generated: generator.Generated
) -> tuple[Timing, Memory, dict]:
    env = server_env(database, scratch)
    reference, token = prepare(env)
    path = f"/api/v1/incidents/{reference}/query-logs/"
    port, log = free_port(), scratch / "gunicorn.log"
    server = _start_server(env, port, log)
    stop = threading.Event()
    try:
        _wait_until_serving(server, port, path, token, log)
        memory = Memory(server.pid)
        memory.sample()
        _checkpoint(database)
        watcher = memory.watch(stop)
        sent, answered, batch = _post(port, path, token, body)
        stop.set()
        watcher.join()
        memory.sample()
    finally:
        stop.set()
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    if batch["rows"] != generated.rows:
        raise BenchError(f"the API stored {batch['rows']} rows, not {generated.rows}")
    with database.connect() as connection:
        stored = connection.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE batch_id = %s").format(
                sql.Identifier(TABLE)
            ),
            (batch["id"],),
        ).fetchone()[0]
    if stored != generated.rows:
        raise BenchError(
            f"{TABLE} holds {stored} rows of the batch, not {generated.rows}"
        )
    detail = f"body sent in {sent:.1f} s, answered {answered - sent:.1f} s later"
    timing = Timing(answered, generated.rows, generated.uncompressed_bytes, detail)
    return timing, memory, batch


def _checkpoint(database: Database) -> None:
    """Start each timed load with no dirty buffers left over from the one before."""
    with (
        database.connect(autocommit=True) as connection,
        contextlib.suppress(psycopg.errors.InsufficientPrivilege),
    ):
        connection.execute("CHECKPOINT")


def _create_scratch(connection: psycopg.Connection) -> None:
    """Same columns, defaults, checks and indexes (LIKE ... INCLUDING ALL), and the
    same foreign keys, which LIKE never copies."""
    table, scratch = sql.Identifier(TABLE), sql.Identifier(SCRATCH)
    connection.execute(
        sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(scratch, table)
    )
    foreign_keys = connection.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname",
        (TABLE,),
    ).fetchall()
    for (definition,) in foreign_keys:
        connection.execute(
            sql.SQL("ALTER TABLE {} ADD {}").format(scratch, sql.SQL(definition))
        )
    connection.commit()


def _copy_values(batch_id: int, incident_id: int, number: int, line: bytes) -> tuple:
    record = orjson.loads(line)
    return (
        batch_id,
        incident_id,
        number,
        hashlib.sha256(line).hexdigest(),
        record["timestamp"],
        *(record.get(name, "") for name in TEXT_FIELDS),
        record.get("ip"),
        record.get("user_agent", ""),
        record.get("model", ""),
        record.get("prompt", ""),
        record.get("prompt_sha256", ""),
        record.get("response", ""),
        record.get("response_sha256", ""),
        record.get("prompt_tokens"),
        record.get("completion_tokens"),
        orjson.dumps(record.get("params") or {}).decode(),
        orjson.dumps(record.get("extra") or {}).decode(),
    )


def run_copy(
    database: Database, body: Path, generated: generator.Generated, batch: dict
) -> Timing:
    """What a careful engineer writes without a framework: read the same gzip NDJSON,
    decode each line, write the same columns with COPY, one transaction."""
    with database.connect() as connection:
        _create_scratch(connection)
        try:
            batch_id = batch["id"]
            incident_id = connection.execute(
                "SELECT incident_id FROM evidence_querylogbatch WHERE id = %s",
                (batch_id,),
            ).fetchone()[0]
            connection.commit()
            _checkpoint(database)
            columns = sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
            statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(SCRATCH), columns
            )
            started = time.perf_counter()
            with (
                gzip.open(body, "rb") as lines,
                connection.cursor() as cursor,
                cursor.copy(statement) as copy,
            ):
                for number, line in enumerate(lines, start=1):
                    copy.write_row(_copy_values(batch_id, incident_id, number, line))
            connection.commit()
            seconds = time.perf_counter() - started
            stored = connection.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(SCRATCH))
            ).fetchone()[0]
        finally:
            connection.rollback()
            connection.execute(
                sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(SCRATCH))
            )
            connection.commit()
    if stored != generated.rows:
        raise BenchError(f"COPY stored {stored} rows, not {generated.rows}")
    return Timing(seconds, generated.rows, generated.uncompressed_bytes)


def verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def report(
    generated: generator.Generated,
    database: Database,
    version: str,
    api: Timing,
    copy: Timing,
    memory: Memory,
) -> None:
    ratio = api.rows_per_second / copy.rows_per_second
    peak = memory.peak_mib
    say("")
    say("Query-log ingestion benchmark (MB = 10^6 bytes, MB/s of uncompressed NDJSON)")
    say(f"  rows              {generated.rows:,}")
    say(
        f"  body              {generated.compressed_bytes / MB:,.1f} MB gzip, "
        f"{generated.uncompressed_bytes / MB:,.1f} MB NDJSON "
        f"({generated.uncompressed_bytes / generated.rows:,.0f} bytes/row)"
    )
    say(
        f"  database          {database.name} on {database.host}:{database.port} "
        f"(PostgreSQL {version}); {os.cpu_count()} CPUs"
    )
    say("")
    say("                               seconds       rows/s      MB/s")
    for name, timing in (
        ("API (HTTP, gunicorn -w 1)", api),
        ("bare COPY (psycopg)", copy),
    ):
        say(
            f"  {name:<27} {timing.seconds:>9.1f} {timing.rows_per_second:>12,.0f} "
            f"{timing.mb_per_second:>9.1f}"
        )
    say(f"    API: {api.detail}")
    say("")
    say(
        f"  API / COPY rows/s         {ratio:>6.2f}     target >= {TARGET_RATIO:.2f}"
        f"      {verdict(ratio >= TARGET_RATIO)}"
    )
    say(
        f"  server peak RSS (VmHWM) {peak:>6.0f} MiB  target < {TARGET_RSS_MIB} MiB"
        f"     {verdict(peak < TARGET_RSS_MIB)}"
    )
    shown = ", ".join(
        f"{pid}: {kib / 1024:.0f} MiB" for pid, kib in sorted(memory.peak_kib.items())
    )
    say(f"    per process: {shown} (first is the master)")


def main() -> int:
    count = int(os.environ.get("BENCH_ROWS", "1000000"))
    seed = int(os.environ.get("BENCH_SEED", "20260302"))
    keep = os.environ.get("BENCH_KEEP") == "1"
    scratch = Path(tempfile.mkdtemp(prefix="casebook-bench-"))
    database = None
    try:
        database = bench_database()
        version = database_reset(database)
        say(f"Generating {count:,} rows (seed {seed}) as gzip NDJSON in {scratch}")
        started = time.perf_counter()
        body = scratch / "query-logs.ndjson.gz"
        generated = generator.write_ndjson_gz(body, count, seed)
        say(
            f"  {generated.compressed_bytes / MB:,.1f} MB gzip "
            f"({generated.uncompressed_bytes / MB:,.1f} MB NDJSON) "
            f"in {time.perf_counter() - started:.0f} s"
        )
        say("Posting them to the API (gunicorn, one sync worker)")
        api, memory, batch = run_api(database, scratch, body, generated)
        say(f"  {batch['rows']:,} rows in {api.seconds:.1f} s, batch {batch['id']}")
        say("Loading them with a bare COPY into a scratch table")
        copy = run_copy(database, body, generated, batch)
        say(f"  {copy.rows:,} rows in {copy.seconds:.1f} s")
        report(generated, database, version, api, copy, memory)
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    finally:
        if database is not None and not keep:
            with contextlib.suppress(psycopg.Error):
                database_drop(database)
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
