"""Locust users for `make load` (bench/load.py runs this file; it is not run alone).

Browsers read the demo incident's pages with a signed-in session each (signed in by
bench/load.py before the run, so password hashing is not part of the figures);
detectors post query-log batches and alerts with an ingest token. Every request must
answer 200 (pages) or 201 (posts) or it counts as an error. Configuration comes from
the environment bench/load.py sets: LOAD_REFERENCE, LOAD_SESSIONS (JSON list of
session cookies), LOAD_TOKEN.
"""

import itertools
import json
import os
import random
from datetime import UTC, datetime

import orjson
from locust import HttpUser, between, constant, task

REFERENCE = os.environ.get("LOAD_REFERENCE", "")
SESSIONS = json.loads(os.environ.get("LOAD_SESSIONS", "[]"))
TOKEN = os.environ.get("LOAD_TOKEN", "")
BATCH_ROWS = 200
PAGES = {
    "incident": "/incidents/{ref}/",
    "evidence": "/incidents/{ref}/evidence/",
    "query logs": "/incidents/{ref}/query-logs/",
}
_session_numbers = itertools.count()


class _Reader(HttpUser):
    abstract = True

    def on_start(self) -> None:
        cookie = SESSIONS[next(_session_numbers) % len(SESSIONS)]
        self.client.cookies.set("sessionid", cookie)

    def _page(self, name: str) -> None:
        path = PAGES[name].format(ref=REFERENCE)
        with self.client.get(
            path, name=name, allow_redirects=False, catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"{path} answered {response.status_code}")
            elif REFERENCE.encode() not in response.content:
                response.failure(f"{path} does not show {REFERENCE}")

    @task
    def incident(self) -> None:
        self._page("incident")

    @task
    def evidence(self) -> None:
        self._page("evidence")

    @task
    def query_logs(self) -> None:
        self._page("query logs")


class IdleBrowser(_Reader):
    """The idle pass: one reader alone, a short pause between pages."""

    wait_time = constant(0.2)


class Browser(_Reader):
    """A person working the case: reads a page for 5 to 15 seconds, then opens the
    next (30 of them ask for about 3 pages a second in all)."""

    fixed_count = 30
    wait_time = between(5, 15)


class Detector(HttpUser):
    """A detection tool: query-log batches and alerts about the case."""

    fixed_count = 2
    wait_time = between(1, 2)

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Bearer {TOKEN}"

    def _post(self, name: str, path: str, **kwargs) -> None:
        with self.client.post(path, name=name, catch_response=True, **kwargs) as r:
            if r.status_code not in (200, 201):
                r.failure(f"{path} answered {r.status_code}: {r.text[:200]}")

    @task(3)
    def query_log_batch(self) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        body = b"".join(
            orjson.dumps(
                {
                    "timestamp": now,
                    "account_id": f"acct-load-{random.randrange(500)}",
                    "ip": f"198.51.100.{random.randrange(1, 255)}",
                    "model": "atlas-2",
                    "prompt": f"Think step by step about topic {random.randrange(10**6)}.",
                    "prompt_tokens": random.randrange(20, 400),
                    "completion_tokens": random.randrange(200, 4000),
                    "params": {"temperature": 0, "max_tokens": 4096},
                }
            )
            + b"\n"
            for _ in range(BATCH_ROWS)
        )
        self._post(
            "POST query-log batch",
            f"/api/v1/incidents/{REFERENCE}/query-logs/",
            data=body,
            headers={"Content-Type": "application/x-ndjson"},
        )

    @task(1)
    def alert(self) -> None:
        self._post(
            "POST alert",
            "/api/v1/alerts/",
            json={
                "source": "load-detector",
                "external_id": f"load-{random.getrandbits(64):016x}",
                "title": "Burst of templated prompts",
                "severity": "high",
                "detected_at": datetime.now(UTC).isoformat(),
                "model": "atlas-2",
                "incident": REFERENCE,
                "subjects": [
                    {"kind": "account", "value": f"acct-load-{random.randrange(500)}"}
                ],
            },
        )
