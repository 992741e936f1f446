"""Real processes for fault injection: a gunicorn server and Celery workers on the
test database, started and killed by the tests. Nothing of Casebook's is mocked; the
faults are real (a terminated database connection, a SIGKILLed worker, a closed
broker port, a full file system)."""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from evidence import signing

BASE_DIR = Path(settings.BASE_DIR)
BIN = Path(sys.executable).parent
# A Redis database of the fault tests' own: other suites and the app use others.
TEST_BROKER = "redis://127.0.0.1:6379/9"
APP_NAME = "casebook-faults"  # PostgreSQL application_name of every child process


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, never listening, then released)."""
    return free_port()


def database_url(name: str) -> str:
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    return (
        f"postgres://{quote(db['USER'])}{password}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{quote(db['NAME'])}?application_name={APP_NAME}-{name}"
    )


def admin_connection() -> psycopg.Connection:
    """A connection of the test's own, outside Django's, in autocommit."""
    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db.get("PASSWORD") or None,
        dbname=db["NAME"],
        autocommit=True,
    )


def terminate_backends(prefix: str = APP_NAME) -> None:
    with admin_connection() as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name LIKE %s AND pid <> pg_backend_pid()",
            [prefix + "%"],
        )


@dataclass
class Child:
    name: str
    popen: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        """SIGKILL the whole process group: the main process and its pool."""
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=30)


@dataclass
class Server(Child):
    port: int = 0

    def request(
        self, method: str, path: str, body=None, headers: dict | None = None, token=""
    ) -> tuple[int, dict, bytes]:
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if isinstance(body, dict):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        client = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            client.request(method, path, body=body, headers=headers)
            response = client.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            client.close()

    def json(self, method: str, path: str, body=None, token="", headers=None):
        status, _, raw = self.request(method, path, body, headers, token)
        return status, (json.loads(raw) if raw else None)


class Processes:
    """Starts children with the test's database, media folder and custody key, and
    kills whatever is left at the end."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.children: list[Child] = []
        signing.public_key()  # create the custody key here, before any child reads it

    def env(self, name: str, **extra: str) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "CELERY_", "DATABASE_", "CASEBOOK_"))
        }
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            DJANGO_SECRET_KEY=settings.SECRET_KEY,
            DJANGO_DEBUG="false",
            DJANGO_SECURE_COOKIES="false",
            DATABASE_URL=database_url(name),
            DATABASE_CONN_MAX_AGE="0",
            CASEBOOK_MEDIA_ROOT=str(settings.MEDIA_ROOT),
            CUSTODY_SIGNING_KEY_PATH=str(settings.CUSTODY_SIGNING_KEY_PATH),
            CELERY_BROKER_URL=TEST_BROKER,
            LOG_LEVEL="WARNING",
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        return env

    def _start(self, name: str, command: list[str], env: dict) -> tuple:
        log = self.folder / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(  # noqa: S603  (our own venv's programs)
                command,
                cwd=BASE_DIR,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed as one
            )
        return popen, log

    def server(self, name: str = "server", **env: str) -> Server:
        port = free_port()
        command = [
            str(BIN / "gunicorn"),
            "config.wsgi",
            "--workers=1",
            f"--bind=127.0.0.1:{port}",
            "--timeout=300",
            "--log-level=warning",
        ]
        popen, log = self._start(name, command, self.env(name, **env))
        server = Server(name=name, popen=popen, log=log, port=port)
        self.children.append(server)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if popen.poll() is not None:
                raise AssertionError(f"{name} exited:\n{server.output()}")
            try:
                server.request("GET", "/api/v1/incidents/")
                return server
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"{name} did not answer within 60 s:\n{server.output()}")

    def worker(self, name: str = "worker", **env: str) -> Child:
        command = [
            str(BIN / "celery"),
            "-A",
            "config",
            "worker",
            "--concurrency=1",
            "--loglevel=INFO",
            f"--hostname={name}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        popen, log = self._start(name, command, self.env(name, **env))
        worker = Child(name=name, popen=popen, log=log)
        self.children.append(worker)
        deadline = time.monotonic() + 60
        while "ready." not in worker.output():
            if popen.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{name} did not start:\n{worker.output()}")
            time.sleep(0.2)
        return worker

    def stop_all(self) -> None:
        for child in self.children:
            child.kill()
        terminate_backends()


@pytest.fixture
def processes(transactional_db, tmp_path):
    """Children see what the test commits (hence a transactional database)."""
    if connection.vendor != "postgresql":
        # Never skipped in CI: there a missing PostgreSQL is a failure.
        (pytest.fail if os.environ.get("CI") else pytest.skip)(
            "fault injection runs against PostgreSQL (CI sets DATABASE_URL)"
        )
    started = Processes(tmp_path)
    yield started
    started.stop_all()


def wait_for(check, *, timeout: float, every: float = 0.05, what: str = "it"):
    """Poll `check()` until it returns something true; returns that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(every)
    raise AssertionError(f"gave up waiting for {what} after {timeout} s")
