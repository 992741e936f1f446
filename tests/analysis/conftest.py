"""A small case with query logs, posted through the real ingestion service: benign
accounts with their own addresses and varied prompts, and a planted ring of accounts
behind one proxy sending templated, deterministic harvesting requests on a script."""

import io
import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from accounts.models import User
from analysis.models import Analysis
from analysis.services import analysis_request
from evidence.models import QueryLogBatch
from evidence.services.querylogs import query_log_ingest
from incidents.models import Incident

START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
RING = [f"ring-{n:02d}" for n in range(8)]
WORDS = [
    "explain",
    "describe",
    "compare",
    "summarise",
    "translate",
    "list",
    "write",
    "draft",
    "outline",
    "review",
    "the",
    "a",
    "of",
    "my",
    "our",
    "this",
    "that",
    "river",
    "market",
    "protein",
    "theorem",
    "recipe",
    "poem",
    "contract",
    "garden",
    "engine",
    "climate",
    "history",
    "music",
    "python",
    "invoice",
    "holiday",
    "budget",
]


def _benign(rng: random.Random, n: int) -> list[dict]:
    records = []
    for a in range(n):
        ip = f"198.{18 + a // 200}.{a % 200}.{rng.randint(1, 250)}"
        agent = f"Mozilla/5.0 (client {a}) Browser/{rng.randint(80, 130)}"
        for _ in range(rng.randint(4, 12)):
            at = START + timedelta(
                hours=rng.choice([8, 9, 10, 11, 13, 14, 15, 16, 17, 19, 20]),
                minutes=rng.randint(0, 59),
                seconds=rng.randint(0, 59),
                days=rng.randint(0, 2),
            )
            records.append(
                {
                    "timestamp": at.isoformat(),
                    "account_id": f"user-{a:03d}",
                    "org_id": f"org-{a:03d}",
                    "api_key_fp": f"key-{a:03d}",
                    "ip": ip,
                    "user_agent": agent,
                    "model": "casebook-large",
                    "prompt": " ".join(rng.choice(WORDS) for _ in range(14)),
                    "params": {
                        "temperature": rng.choice([0.7, 0.8, 1.0]),
                        "max_tokens": rng.choice([256, 512]),
                    },
                }
            )
    return records


def _ring(rng: random.Random) -> list[dict]:
    records = []
    for index, account in enumerate(RING):
        for step in range(24):
            at = START + timedelta(minutes=7 * step, seconds=index)
            topic = WORDS[(step * 3) % len(WORDS)]
            records.append(
                {
                    "timestamp": at.isoformat(),
                    "account_id": account,
                    "org_id": f"shell-{index}",
                    "api_key_fp": f"rk-{index:02d}",
                    "ip": "203.0.113.7",
                    "user_agent": "python-httpx/0.27 harvester",
                    "model": "casebook-large",
                    "prompt": "You are a helpful teacher. Explain step by step with "
                    f"full reasoning the following topic in detail: {topic}",
                    "params": {
                        "temperature": 0,
                        "max_tokens": 4096,
                        "logprobs": True,
                        "n": 4,
                    },
                    "extra": {"payment_fp": "card-5c1f"},
                }
            )
    return records


def ingest(incident: Incident, by: User, records: list[dict]) -> QueryLogBatch:
    body = "\n".join(json.dumps(r, sort_keys=True) for r in records).encode()
    batch, _ = query_log_ingest(
        incident=incident,
        by=by,
        stream=io.BytesIO(body),
        content_type="application/x-ndjson",
    )
    return batch


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def add_logs(incident: Incident, by: User) -> Incident:
    """Two batches: benign traffic, then more of it with the ring mixed in."""
    rng = random.Random(6)
    benign = _benign(rng, 60)
    ingest(incident, by, benign[: len(benign) // 2])
    ingest(incident, by, benign[len(benign) // 2 :] + _ring(rng))
    return incident


@pytest.fixture
def logged(incident, service_user) -> Incident:
    return add_logs(incident, service_user)


@pytest.fixture
def done(logged, analyst, django_capture_on_commit_callbacks) -> Analysis:
    """A finished analysis of `logged` (the task runs in-process on commit)."""
    with django_capture_on_commit_callbacks(execute=True):
        analysis = analysis_request(incident=logged, by=analyst)
    analysis.refresh_from_db()
    assert analysis.status == Analysis.Status.DONE, analysis.error
    return analysis


def make_stale(analysis: Analysis, *, attempts: int, stage: str = "Linking") -> None:
    Analysis.objects.filter(pk=analysis.pk).update(
        status=Analysis.Status.RUNNING,
        attempts=attempts,
        stage=stage,
        heartbeat_at=timezone.now() - timedelta(hours=1),
    )
