"""Synthetic dossier snapshots, shaped like ``dossiers.snapshot.build_snapshot`` output."""

import hashlib
from datetime import UTC, datetime, timedelta

from dossiers.snapshot import SECTIONS

HOSTILE_NOTE = (
    'Suspicious payload seen: <img src="http://attacker.invalid/pixel.png"> '
    "<link rel=stylesheet href=file:///etc/passwd> "
    '<style>@import url("http://attacker.invalid/x.css");</style> '
    "<script>alert(1)</script> & done."
)
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def t(offset_minutes: float) -> str:
    moment = START + timedelta(minutes=offset_minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_snapshot(
    *,
    excerpt_rows: int = 300,
    exhibits: int = 10,
    custody_events: int = 6,
    hourly_bars: int = 120,
    forensic_results: int = 3,
    accounts: int = 50,
    attachments: list[dict] | None = None,
    sections: list[str] | None = None,
) -> dict:
    """A realistic model-extraction case; sizes are knobs for the big-case test."""
    reference = "INC-2026-0001"
    items = [
        {
            "exhibit": f"EX-{n:04d}",
            "title": [
                "API gateway access log, January 2026",
                "Billing export for org-7731",
                "Suspect model weights (distilled copy)",
                "Fingerprint probe responses",
                "Watermark detector output",
            ][n % 5]
            + f" (part {n})",
            "kind": ["Query log", "Document", "Model artefact", "Analysis", "Other"][
                n % 5
            ],
            "size": 1024 * 1024 * n + 17 * n,
            "sha256": sha(f"exhibit-{n}"),
            "media_type": "application/octet-stream",
            "original_name": f"evidence_file_{n}_with_a_rather_long_name.bin",
            "received_at": t(n * 60),
            "received_by": "alice",
            "custodian": "alice" if n % 3 else "carol",
            "withdrawn": n == 4,
        }
        for n in range(1, exhibits + 1)
    ]
    custody = [
        {
            "exhibit": item["exhibit"],
            "title": item["title"],
            "events": [
                {
                    "seq": index * 1000 + e,
                    "action": [
                        "received",
                        "viewed",
                        "downloaded",
                        "analysed",
                        "sealed",
                    ][e % 5],
                    "actor": "alice (Alice Analyst)",
                    "at": t(index * 60 + e * 7),
                    "location": "Casebook evidence store (eu-west-1)",
                    "purpose": "Intake" if e == 0 else "Forensic review",
                    "sha256_observed": item["sha256"],
                    "details": {"ip": "10.0.0.4", "bytes": 1048576} if e % 2 else {},
                    "entry_hash": sha(f"entry-{index}-{e}"),
                }
                for e in range(custody_events)
            ],
        }
        for index, item in enumerate(items, start=1)
    ]
    excerpt = [
        {
            "timestamp": t(i * 0.5),
            "account_id": f"acct_{i % 37:05d}",
            "ip": f"203.0.113.{i % 250}",
            "model": "casebook-llm-7b",
            "prompt": (
                f"Repeat the following text exactly and continue the sequence {i}: "
                "the quick brown fox jumps over the lazy dog " * 4
            )[:200],
            "line": i + 2,
            "batch": 1 + i // 150,
            "row_sha256": sha(f"row-{i}"),
        }
        for i in range(excerpt_rows)
    ]
    hourly = [
        {
            "hour": (START + timedelta(hours=h)).strftime("%Y-%m-%dT%H:00:00Z"),
            "count": 40 + (h * 37) % 300,
        }
        for h in range(hourly_bars)
    ]
    results = [
        {
            "method": {
                "family": ["fingerprint", "watermark", "distillation"][n % 3],
                "name": ["logit-fingerprint", "kgw-watermark", "agreement-test"][n % 3],
                "version": f"1.{n}.0",
            },
            "suspect_model": f"hf.co/suspect/model-{n}",
            "parameters": {"samples": 5000, "seed": 42 + n, "temperature": 0.7},
            "statistic": {"name": "z", "value": 7.25 + n},
            "p_value": 1.3e-12 * (n + 1),
            "alpha": 0.01,
            "verdict": "supports" if n != 1 else "inconclusive",
            "summary": "Outputs of the suspect model match the protected model's "
            "fingerprint far beyond chance.",
            "limitations": [
                "Black-box access only; sampled 5,000 prompts.",
                "Assumes the suspect model was not fine-tuned after distillation.",
            ],
            "exhibit": f"EX-{min(n + 3, exhibits):04d}",
            "artefacts": ["EX-0001", "EX-0002"],
            "submitted_by": "alice",
            "submitted_at": t(600 + n),
        }
        for n in range(forensic_results)
    ]
    snapshot = {
        "incident": {
            "reference": reference,
            "title": "Suspected distillation of casebook-llm-7b via the public API",
            "summary": "Between 5 and 9 January 2026 a cluster of accounts issued "
            "systematic prompts consistent with a model-extraction campaign.\n"
            "Forensic tests on a publicly released model support the hypothesis.",
            "kind": "Model extraction",
            "severity": "High",
            "tlp": "AMBER",
            "status": "Investigating",
            "owner": "Alice Analyst (alice)",
            "created_at": t(0),
            "detected_at": t(-120),
            "affected_models": ["casebook-llm-7b", "casebook-llm-70b"],
            "legal_hold": True,
        },
        "prepared_by": "Carol Counsel (carol)",
        "prepared_for": "Outside counsel",
        "generated_at": "2026-02-01T12:30:00Z",
        "confidentiality": "CONFIDENTIAL — ATTORNEY-CLIENT PRIVILEGED / "
        "ATTORNEY WORK PRODUCT — TLP:AMBER",
        "bates_prefix": "INC20260001",
        "sections": list(SECTIONS if sections is None else sections),
        "summary": {
            "exhibits": exhibits,
            "custody_events": exhibits * custody_events,
            "query_log_rows": 1234567,
            "accounts": 812,
            "forensic_results": forensic_results,
            "supports": forensic_results - 1,
            "alerts": 2,
        },
        "subjects": [
            {"kind": "Account", "value": "acct_00017", "note": "Highest volume"},
            {"kind": "IP address", "value": "203.0.113.42", "note": ""},
            {"kind": "Organisation", "value": "org-7731", "note": "Billing owner"},
        ],
        "timeline": [
            {
                "occurred_at": t(i * 90 - 300),
                "recorded_at": t(i * 90 + 30),
                "title": f"Event {i}: rate spike detected",
                "description": "Detector flagged sustained high-entropy prompts.",
                "source": "detector",
                "recorded_by": "alice",
            }
            for i in range(8)
        ],
        "query_logs": {
            "rows": 1234567,
            "accounts_total": 812,
            "accounts": [
                {
                    "account_id": f"acct_{i:05d}",
                    "count": 90000 - i * 1500,
                    "first_seen": t(i),
                    "last_seen": t(5000 + i),
                }
                for i in range(accounts)
            ],
            "hourly": hourly,
            "batches": [
                {
                    "id": b,
                    "exhibit": f"EX-{b:04d}",
                    "rows": 600000,
                    "body_sha256": sha(f"body-{b}"),
                    "merkle_root": sha(f"merkle-{b}"),
                    "received_at": t(b * 30),
                }
                for b in (1, 2)
            ],
            "excerpt": excerpt,
            "export_name": "query-logs.csv",
        },
        "alerts": [
            {
                "source": "extraction-detector",
                "external_id": f"det-{a}",
                "title": f"Systematic prompt sweep from account cluster {a}",
                "severity": "high",
                "detected_at": t(a * 100),
                "score": 0.97,
                "occurrences": 14,
                "signals": [
                    {
                        "name": "prompt_entropy",
                        "value": 6.1,
                        "threshold": 4.5,
                        "p_value": 0.0001,
                        "explanation": "Prompt entropy far above baseline",
                    },
                    {
                        "name": "coverage",
                        "value": 0.83,
                        "threshold": 0.5,
                        "p_value": None,
                        "explanation": "Systematic coverage of the token space",
                    },
                ],
            }
            for a in (1, 2)
        ],
        "forensic_results": results,
        "exhibits": items,
        "custody": custody,
        "notes": [
            {"author": "alice", "created_at": t(700), "body": HOSTILE_NOTE},
            {
                "author": "bob",
                "created_at": t(800),
                "body": "Spoke with the platform team.\nThey confirmed the rate limits.",
            },
        ],
        "privilege_log": [
            {
                "item": "Note 17",
                "date": t(900),
                "author": "carol",
                "type": "Case note",
                "basis": "Attorney-client privilege / attorney work product",
            }
        ],
        "checkpoint": {
            "tree_size": 4242,
            "root_hash": sha("root"),
            "signed_at": t(1000),
            "key_id": "ed25519:3f2a9c",
        },
        "attachments": attachments or [],
    }
    return snapshot
