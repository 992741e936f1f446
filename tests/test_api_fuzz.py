"""Schemathesis over the live `/api/schema/`: for every operation, with a token of each
scope (read, ingest, write) held by a member of a seeded incident, generated requests
(valid and invalid) never answer 5xx, and every answer matches the published schema
(status code, content type, headers, body).

A real server (pytest-django's threaded live server) answers; the schema is read from
it over HTTP, as an outside client would. Path parameters are set to real objects of
the seeded incident so requests get past the lookup to validation and the services;
everything else is generated. The run is bounded and reproducible: a fixed seed,
derandomised, FUZZ_EXAMPLES examples per operation (default 8); `make fuzz` runs 100
and adds Schemathesis's coverage phase (FUZZ_COVERAGE=1). No operation is excluded.

Schemathesis runs through its engine (what its CLI uses), not its pytest plugin,
whose `from_fixture` loader does not work with pytest 9 (it sets `Node._nodeid`).
Jobs the fuzzer requests (dossiers, analyses) go to an in-memory broker with no
worker, so a request never renders a PDF inside the live server."""

import os
import re

import pytest
import requests
import schemathesis
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient
from schemathesis.engine import events

from accounts.models import User
from config.celery import app as celery_app
from tests.factories import UserFactory, make_incident, make_token

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
SEED = int(os.environ.get("FUZZ_SEED", "20261102"))
# Schemathesis's coverage phase (every boundary and wrong type of every parameter,
# about 1,500 requests per token) is for `make fuzz`; `make test` only fuzzes.
COVERAGE = os.environ.get("FUZZ_COVERAGE", "0") == "1"

# The property: no 5xx, and every answer is the one the schema describes.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)


def fuzz_config(*, base_url: str, token: str, operations: list[dict]):
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "cache": {"enabled": False},  # nothing written into the checkout
            "base-url": base_url,
            "headers": {"Authorization": f"Bearer {token}"},
            "workers": 1,
            "request-timeout": 120,
            "generation": {
                "mode": "all",  # valid and invalid data
                "max-examples": EXAMPLES,
                "deterministic": True,
                "database": "none",
                "no-shrink": True,  # a failure is reported as found; shrinking is slow
            },
            "phases": {
                "examples": {"enabled": False},  # the schema carries no examples
                "coverage": {"enabled": COVERAGE, "unexpected-methods": []},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": False},
            },
            "checks": {
                "enabled": False,
                **{name: {"enabled": True} for name in CHECKS},
            },
            "operations": operations,
        }
    )


def run_schemathesis(config) -> tuple[int, list[str]]:
    """(scenarios run, one paragraph per failure or error) of a whole engine run."""
    schema = schemathesis.openapi.from_url(
        f"{config.projects.get_default().base_url}/api/schema/?format=json",
        config=config,
    )
    scenarios, problems = 0, []
    elapsed, counts = {}, {}
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            scenarios += 1
            elapsed[event.label] = elapsed.get(event.label, 0) + event.elapsed_time
            counts[event.label] = counts.get(event.label, 0) + len(event.recorder.cases)
            for nodes in event.recorder.checks.values():
                for node in nodes:
                    if node.failure_info is not None:
                        failure = node.failure_info.failure
                        problems.append(
                            f"{event.label}: {failure.title}\n{failure.message}\n"
                            f"{node.failure_info.code_sample}"
                        )
        elif isinstance(event, events.NonFatalError):
            problems.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            raise event.exception
    for label, seconds in sorted(elapsed.items(), key=lambda kv: -kv[1])[:15]:
        print(f"{seconds:7.1f}s {counts[label]:5d} cases  {label}")
    return scenarios, problems


def seed_case(client: APIClient, reference: str) -> dict[str, int]:
    """One of each object the API addresses by id, made through the API itself."""
    base = f"/api/v1/incidents/{reference}"

    def made(response) -> int:
        assert response.status_code in (200, 201, 202), response.content
        return response.json()["id"]

    evidence = made(
        client.post(
            f"{base}/evidence/",
            {"file": SimpleUploadedFile("a.csv", b"a,b\n1,2\n"), "title": "Export"},
            format="multipart",
        )
    )
    row = (
        b'{"timestamp": "2026-11-02T03:14:00Z", "account_id": "acct_1",'
        b' "ip": "203.0.113.7", "model": "atlas-2", "prompt": "p", "response": "r"}\n'
    )
    batch = made(
        client.generic(
            "POST", f"{base}/query-logs/", row, content_type="application/x-ndjson"
        )
    )
    rows = client.get(f"{base}/query-logs/").json()["results"]
    ids = {
        "evidence": evidence,
        "query-log-batches": batch,
        "query-logs": rows[0]["id"],
        "subjects": made(
            client.post(
                f"{base}/subjects/", {"kind": "account", "value": "acct_1"}, "json"
            )
        ),
        "timeline": made(
            client.post(
                f"{base}/timeline/",
                {"occurred_at": "2026-11-02T03:14:00Z", "title": "First request"},
                "json",
            )
        ),
        "notes": made(client.post(f"{base}/notes/", {"body": "A note"}, "json")),
        "tasks": made(client.post(f"{base}/tasks/", {"title": "A task"}, "json")),
        "alerts": made(
            client.post(
                "/api/v1/alerts/",
                {
                    "source": "seed",
                    "external_id": "seed-1",
                    "title": "Seed alert",
                    "severity": "low",
                    "detected_at": "2026-11-02T03:14:00Z",
                    "incident": reference,
                },
                "json",
            )
        ),
        "forensic-results": made(
            client.post(
                f"{base}/forensic-results/",
                {
                    "method": {"family": "watermark", "name": "z", "version": "1"},
                    "suspect_model": "suspect-7b",
                    "parameters": {"gamma": 0.25},
                    "statistic": {"name": "z", "value": 1.0},
                    "p_value": 0.158655,
                    "alpha": 0.01,
                    "verdict": "inconclusive",
                    "summary": "Seed result",
                },
                "json",
            )
        ),
        "analyses": made(client.post(f"{base}/analyses/", {}, "json")),
        "dossiers": made(client.post(f"{base}/dossiers/", {}, "json")),
        # Run as jobs: the caller sets CUSTODY_SYNC_MAX_BYTES to 0 while seeding.
        "custody-verifications": made(client.post(f"{base}/verify/")),
        "custody-bundles": made(client.get(f"{base}/custody-bundle/")),
    }
    ids["history"] = client.get(f"{base}/history/").json()["results"][0]["id"]
    return ids


@pytest.fixture
def live_case(live_server, transactional_db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    alice = UserFactory(username="alice", role=User.Role.ANALYST)
    counsel = UserFactory(username="carol", role=User.Role.COUNSEL)
    detector = UserFactory(username="detector", role=User.Role.SERVICE)
    # A member whose removal the DELETE operation may try, so alice stays a member.
    bob = UserFactory(username="bob", role=User.Role.ANALYST)
    incident = make_incident(by=alice, members=[counsel, detector, bob])
    seeding = APIClient()
    seeding.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(counsel, 'write')}")
    sync_max_bytes = settings.CUSTODY_SYNC_MAX_BYTES
    settings.CUSTODY_SYNC_MAX_BYTES = 0  # so verify and the bundle seed their jobs
    ids = seed_case(seeding, incident.reference)
    settings.CUSTODY_SYNC_MAX_BYTES = sync_max_bytes
    # The seeded dossier and analysis ran in-process (the suite's eager tasks). The
    # jobs the fuzzer asks for wait in an in-memory queue for a worker that is not
    # there, as behind a real broker, instead of each rendering a PDF for seconds
    # inside the request.
    eager, broker = celery_app.conf.task_always_eager, celery_app.conf.broker_url
    celery_app.close()
    celery_app.conf.update(task_always_eager=False, broker_url="memory://")
    yield {
        "url": live_server.url,
        "reference": incident.reference,
        "ids": ids,
        "users": {"alice": alice, "detector": detector},
    }
    celery_app.close()
    celery_app.conf.update(task_always_eager=eager, broker_url=broker)


_ID = re.compile(r"/([a-z-]+)/\{id\}/")


def path_parameters(schema_paths, live_case: dict) -> list[dict]:
    """Per operation path, its parameters set to real objects of the seeded case."""
    operations = []
    for path in schema_paths:
        values = {"reference": live_case["reference"], "username": "bob", "seq": 1}
        match = _ID.search(path)
        if match:
            collection = match.group(1)
            assert collection in live_case["ids"], (
                f"{path}: seed an object for {collection} in seed_case()"
            )
            values["id"] = live_case["ids"][collection]
        names = re.findall(r"\{(\w+)\}", path)
        if names:
            operations.append(
                {
                    "include-path": path,
                    "parameters": {f"path.{name}": values[name] for name in names},
                }
            )
    return operations


# (user, scope): every scope, each held by a member of the seeded incident.
CALLERS = [("alice", "read"), ("detector", "ingest"), ("alice", "write")]


@pytest.mark.parametrize(("username", "scope"), CALLERS)
def test_no_operation_answers_5xx_or_off_schema(username, scope, live_case):
    paths = requests.get(f"{live_case['url']}/api/schema/?format=json", timeout=30)
    config = fuzz_config(
        base_url=live_case["url"],
        token=make_token(live_case["users"][username], scope),
        operations=path_parameters(paths.json()["paths"], live_case),
    )
    scenarios, problems = run_schemathesis(config)
    assert scenarios > 0
    assert not problems, f"{len(problems)} problems:\n\n" + "\n\n".join(problems)
