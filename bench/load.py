"""`make load`: the demo case under 30 browsing people and two detectors, on the
production stack, against the same pages with nobody else on the server.

Drops and recreates PostgreSQL database casebook_load (DATABASE_URL to point
elsewhere; any other name needs BENCH_RESET=1), seeds the demo case (20,000 query-log
rows, evidence, an alert), and starts gunicorn and a Celery worker (Redis broker
LOAD_BROKER_URL, by default redis://127.0.0.1:6379/10) on free loopback ports. Then
two headless Locust passes: an idle pass (one reader, LOAD_IDLE_SECONDS, default 30)
and the load pass (30 readers opening a page every 5-15 s while two detectors post
200-row query-log batches and alerts, LOAD_SECONDS, default 60). Prints p50/p95 per
page for both passes and the errors, and PASS/FAIL for the targets: no error, and each
page's p95 under load within 3x its idle p95. Exits 1 when a target fails.
BENCH_KEEP=1 keeps the database afterwards.
"""

import contextlib
import csv
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from bench.ingest import (
    BASE_DIR,
    BenchError,
    Database,
    database_drop,
    database_reset,
    free_port,
    say,
)

LOAD_DATABASE = "casebook_load"
DEFAULT_DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{LOAD_DATABASE}"
PAGES = ("incident", "evidence", "query logs")
POSTS = ("POST query-log batch", "POST alert")
BROWSERS, DETECTORS = 30, 2
TARGET_RATIO = 3.0
# Synchronous workers: 2 per core of the 2-core machines this runs on.
WEB_WORKERS = int(os.environ.get("LOAD_WEB_WORKERS", "4"))
BIN = BASE_DIR / ".venv" / "bin"


def bench_database() -> Database:
    database = Database.from_url(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    if database.name != LOAD_DATABASE and os.environ.get("BENCH_RESET") != "1":
        raise BenchError(
            f"The load run drops and recreates its database, and DATABASE_URL names "
            f"'{database.name}'. Point it at .../{LOAD_DATABASE} (or unset it), or "
            f"set BENCH_RESET=1 to let it drop '{database.name}'."
        )
    return database


def _env(database: Database, scratch: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")},
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database.url,
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_COOKIES": "false",  # plain HTTP on loopback
        "CELERY_BROKER_URL": os.environ.get(
            "LOAD_BROKER_URL", "redis://127.0.0.1:6379/10"
        ),
        "CASEBOOK_MEDIA_ROOT": str(scratch / "media"),
        "CUSTODY_SIGNING_KEY_PATH": str(scratch / "keys" / "custody-ed25519.pem"),
        "LOG_LEVEL": "WARNING",
    }


def prepare(env: dict[str, str]) -> tuple[str, str, str]:
    """Migrate, collect static files, seed the demo case and give its detector an
    ingest token. Runs Django in this process with the servers' settings; returns
    (reference, token, password)."""
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from accounts.models import ApiToken, User
    from accounts.services import api_token_create
    from incidents.management.commands.seed_demo import DEMO_PASSWORD, DEMO_TITLE
    from incidents.models import Incident

    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    call_command("seed_demo", verbosity=0)
    incident = Incident.objects.get(title=DEMO_TITLE)
    _, token = api_token_create(
        user=User.objects.get(username="detector"),
        name="load detector",
        scope=ApiToken.Scope.INGEST,
        days=1,
    )
    connections.close_all()
    return incident.reference, token, DEMO_PASSWORD


def _start_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    command = [str(BIN / "gunicorn"), "config.wsgi", f"--workers={WEB_WORKERS}"]
    command += [f"--bind=127.0.0.1:{port}", "--timeout=120", "--log-level=warning"]
    with log.open("wb") as out:
        return subprocess.Popen(  # noqa: S603  (our own venv's gunicorn)
            command, cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT
        )


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(  # noqa: S603  (our own venv's celery)
            [str(BIN / "celery"), "-A", "config", "worker", "--concurrency=1"],
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait_until_serving(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise BenchError(f"gunicorn exited:\n{log.read_text()[-3000:]}")
        # Until every worker has imported the app: one answer per worker.
        with contextlib.suppress(requests.RequestException):
            for _ in range(WEB_WORKERS):
                requests.get(f"{url}/accounts/login/", timeout=30).raise_for_status()
            return
        time.sleep(0.2)
    raise BenchError(
        f"gunicorn did not answer within 120 s:\n{log.read_text()[-3000:]}"
    )


def _sign_in(url: str, password: str) -> str:
    """A signed-in session of alice (the demo analyst), through the sign-in form."""
    with requests.Session() as browser:
        browser.get(f"{url}/accounts/login/", timeout=30)
        answer = browser.post(
            f"{url}/accounts/login/",
            data={
                "username": "alice",
                "password": password,
                "csrfmiddlewaretoken": browser.cookies["csrftoken"],
            },
            timeout=30,
            allow_redirects=False,
        )
        if answer.status_code != 302 or "sessionid" not in browser.cookies:
            raise BenchError(f"signing in answered {answer.status_code}")
        return browser.cookies["sessionid"]


def _locust(
    url: str, env: dict, scratch: Path, name: str, users: int, seconds: int, *classes
) -> dict[str, dict]:
    prefix = scratch / name
    command = [
        str(BIN / "locust"),
        "-f",
        str(BASE_DIR / "bench" / "locustfile.py"),
        "--headless",
        "--host",
        url,
        "--users",
        str(users),
        "--spawn-rate",
        str(users),
        "--run-time",
        f"{seconds}s",
        "--stop-timeout",
        "10",
        "--reset-stats",
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--csv",
        str(prefix),
        *classes,
    ]
    with (scratch / f"{name}.log").open("wb") as out:
        subprocess.run(  # noqa: S603  (our own venv's locust)
            command, cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    stats = {}
    with open(f"{prefix}_stats.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            stats[row["Name"]] = {
                "requests": int(row["Request Count"]),
                "errors": int(row["Failure Count"]),
                "p50": float(row["50%"] or 0),
                "p95": float(row["95%"] or 0),
            }
    return stats


def _failures(scratch: Path) -> list[str]:
    path = scratch / "load_failures.csv"
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return [
            f"{row['Occurrences']} x {row['Method']} {row['Name']}: {row['Error']}"
            for row in csv.DictReader(handle)
        ]


def report(idle: dict, load: dict, failures: list[str]) -> bool:
    empty = {"requests": 0, "errors": 0, "p50": 0.0, "p95": 0.0}
    say("")
    say(
        f"{'page':<22}{'idle p50':>10}{'idle p95':>10}{'load p50':>10}"
        f"{'load p95':>10}{'requests':>10}{'errors':>8}  target"
    )
    passed = True
    for name in (*PAGES, *POSTS):
        quiet, busy = idle.get(name, empty), load.get(name, empty)
        errors = quiet["errors"] + busy["errors"]
        line = (
            f"{name:<22}{_ms(quiet, 'p50'):>10}{_ms(quiet, 'p95'):>10}"
            f"{_ms(busy, 'p50'):>10}{_ms(busy, 'p95'):>10}{busy['requests']:>10}"
            f"{errors:>8}  "
        )
        if name in PAGES:
            ratio = busy["p95"] / quiet["p95"] if quiet["p95"] else float("inf")
            ok = errors == 0 and busy["requests"] > 0 and ratio <= TARGET_RATIO
            line += (
                f"{'PASS' if ok else 'FAIL'} (p95 x{ratio:.1f}, at most x3; no error)"
            )
        else:
            ok = errors == 0 and busy["requests"] > 0
            line += f"{'PASS' if ok else 'FAIL'} (no error)"
        passed &= ok
        say(line)
    total = sum(s["errors"] for s in (*idle.values(), *load.values()) if s)
    total -= (
        idle.get("Aggregated", empty)["errors"]
        + load.get("Aggregated", empty)["errors"]
    )
    say(f"errors in both passes: {total}  {'PASS' if total == 0 else 'FAIL'}")
    for failure in failures[:10]:
        say(f"  {failure}")
    say("RESULT: " + ("PASS" if passed and total == 0 else "FAIL"))
    return passed and total == 0


def _ms(stats: dict, key: str) -> str:
    return f"{stats[key]:.0f} ms" if stats["requests"] else "-"


def main() -> int:
    database = bench_database()
    idle_seconds = int(os.environ.get("LOAD_IDLE_SECONDS", "30"))
    load_seconds = int(os.environ.get("LOAD_SECONDS", "60"))
    version = database_reset(database)
    scratch = Path(tempfile.mkdtemp(prefix="casebook-load-"))
    children: list[subprocess.Popen] = []
    try:
        env = _env(database, scratch)
        say(f"PostgreSQL {version}, database {database.name}: seeding the demo case")
        started = time.monotonic()
        reference, token, password = prepare(env)
        say(f"seeded in {time.monotonic() - started:.0f} s; starting the servers")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server_log = scratch / "gunicorn.log"
        server = _start_server(env, port, server_log)
        children.append(server)
        children.append(_start_worker(env, scratch / "worker.log"))
        _wait_until_serving(url, server, server_log)
        sessions = [_sign_in(url, password) for _ in range(BROWSERS + 1)]
        locust_env = {
            **os.environ,
            "LOAD_REFERENCE": reference,
            "LOAD_SESSIONS": json.dumps(sessions),
            "LOAD_TOKEN": token,
        }
        # Other processes on the machine skew both passes; say how busy it was.
        say(f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        say(f"{url}, {reference}: idle pass, one reader for {idle_seconds} s")
        idle = _locust(url, locust_env, scratch, "idle", 1, idle_seconds, "IdleBrowser")
        say(
            f"load pass: {BROWSERS} readers and {DETECTORS} detectors for "
            f"{load_seconds} s"
        )
        load = _locust(
            url,
            locust_env,
            scratch,
            "load",
            BROWSERS + DETECTORS,
            load_seconds,
            "Browser",
            "Detector",
        )
        passed = report(idle, load, _failures(scratch))
        say(f"machine load average after: {os.getloadavg()[0]:.1f}")
        errors = re.findall(r"^.*(?:Error|Traceback).*$", server_log.read_text(), re.M)
        for line in errors[:5]:
            say(f"  server: {line}")
        return 0 if passed else 1
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
        if os.environ.get("BENCH_KEEP") != "1":
            database_drop(database)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"load: {error}", file=sys.stderr)
        sys.exit(2)
