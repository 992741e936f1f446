"""Tiny hand-made populations for the engine's tests, posted through the real
ingestion service."""

import io
import json
from datetime import UTC, datetime

from analysis.engine import analysis_parameters_clean, analysis_run
from evidence.services.querylogs import query_log_ingest

START = datetime(2026, 11, 2, tzinfo=UTC)
TEMPLATE = (
    "You are a meticulous tutor who never skips a step. Solve the following problem "
    "about {fill} completely: restate it in your own words, list every definition "
    "you need, number each step of your reasoning and say why it follows from the "
    "one before. Then check the result by an independent method, list the "
    "assumptions you made, rate your confidence from zero to one hundred, and give "
    "the final answer on its own line so that it can be read automatically."
)


def row(account: str, at: datetime, **fields) -> dict:
    return {
        "timestamp": at.isoformat().replace("+00:00", "Z"),
        "account_id": account,
        "prompt": fields.pop("prompt", f"note {account} {at:%H%M%S} about the weather"),
        **fields,
    }


def ingest(incident, by, records: list[dict]) -> int:
    body = b"".join(json.dumps(r).encode() + b"\n" for r in records)
    batch, _ = query_log_ingest(
        incident=incident,
        by=by,
        stream=io.BytesIO(body),
        content_type="application/x-ndjson",
    )
    return batch.pk


def analyse(batch_ids: list[int], **parameters) -> dict:
    return analysis_run(
        batch_ids=batch_ids, parameters=analysis_parameters_clean(parameters)
    )


def signals_of(result: dict, account: str) -> dict:
    return next(a for a in result["accounts"] if a["account_id"] == account)["signals"]
