"""Realistic detector query logs, generated deterministically from a seed.

A few thousand accounts (a handful of them heavy users) spread over a few hundred
organisations, each with its own API keys, addresses (mostly IPv4, some IPv6) and
client; prompts and responses of a few hundred characters built from templates and
random words, some of them non-ASCII; timestamps over two weeks in order.
"""

import gzip
import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path

import orjson

ACCOUNTS = 3000
ORGS = 700
START = datetime(2026, 3, 2, tzinfo=UTC)
SPAN = timedelta(days=14)
WRITE_EVERY = 2000  # lines per gzip write: memory stays flat however many rows

# Split at import (a literal's .split() would be rewritten into a 150-line list).
_VOCABULARY = """
the of and to in is that for it as with was on be by this are from or an at which
model data training answer question explain reason step first second then because
however example function return value list table number result output input prompt
system user assistant code python query policy safety risk account token key request
response classify translate summarise compare evaluate describe rewrite continue
verbatim exactly format json yaml markdown bullet points paragraph sentence word
chemistry physics history law contract clause liability neural network gradient
loss weights layer attention transformer embedding vector matrix probability logit
temperature sample distribution entropy benchmark dataset label annotate score rank
grade rubric correct incorrect partial confidence calibration hidden chain thought
secret instructions ignore previous pretend roleplay character story poem essay
email letter report invoice customer support refund shipping order product price
recipe travel weather flight hotel museum river mountain city country language
naïve café Zürich München façade résumé coöperate jalapeño São Paulo Kraków
données privée 東京 大阪 数据 模型 Москва данные — “quoted” ‘single’ …
"""
WORDS = _VOCABULARY.split()
LANGUAGES = ("French", "German", "Spanish", "Japanese", "Portuguese", "Polish")
ROLES = ("chemist", "lawyer", "tutor", "data scientist", "historian", "editor")
PROMPTS = (
    "Translate into {lang}: {text}",
    "You are an expert {role}. Explain step by step: {text}?",
    "Write a Python function that {text}. Return only the code.",
    "Summarise the following in three bullet points:\n{text}",
    "Q: {text}?\nA: Let's think step by step.",
    'Continue the text exactly, word for word: "{text}"',
    "Rate this answer from 1 to 10 and give your reasoning.\nAnswer: {text}",
    "Classify the sentiment (positive, negative, neutral) of: {text}",
)
RESPONSES = (
    "Sure! Here is the answer: {text}.",
    "1. {text}\n2. {more}\n3. {tail}",
    "```python\ndef solve(data):\n    # {text}\n    return sorted(data)\n```\n{more}",
    "Score: {score}/10. Reasoning: {text}",
    "I can't help with that part, but here is some context: {text}",
    '{{"label": "neutral", "confidence": 0.{score}, "rationale": "{text}"}}',
)
MODELS = (
    "atlas-2-large",
    "atlas-2-mini",
    "atlas-3-preview",
    "atlas-3",
    "atlas-3-reasoning",
    "embed-v4",
    "atlas-2-large-2025-11-04",
    "atlas-3-2026-02-01",
)
USER_AGENTS = (
    "python-requests/2.32.3",
    "python-httpx/0.28.1",
    "OpenAI/Python 1.54.4",
    "atlas-python/3.2.0 (CPython 3.12.7; Linux x86_64)",
    "atlas-node/2.9.1 (node v22.11.0; darwin arm64)",
    "curl/8.11.0",
    "Go-http-client/2.0",
    "aiohttp/3.11.9",
    "okhttp/4.12.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7_1) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "LangChain/0.3.9 python-requests/2.32.3",
)


@dataclass(frozen=True)
class Account:
    account_id: str
    org_id: str
    keys: tuple[str, ...]
    ips: tuple[str, ...]
    user_agent: str


@dataclass
class Generated:
    rows: int
    compressed_bytes: int
    uncompressed_bytes: int


def _hex(rng: random.Random, chars: int) -> str:
    return f"{rng.getrandbits(chars * 4):0{chars}x}"


def _ip(rng: random.Random) -> str:
    if rng.random() < 0.12:
        groups = ":".join(f"{rng.getrandbits(16):x}" for _ in range(4))
        return f"2001:db8:{rng.getrandbits(16):x}:{rng.getrandbits(16):x}:{groups}"
    return ".".join(
        str(part) for part in (rng.randint(1, 223), *rng.choices(range(256), k=3))
    )


def accounts(rng: random.Random) -> list[Account]:
    orgs = [f"org-{_hex(rng, 20)}" for _ in range(ORGS)]
    return [
        Account(
            account_id=f"acct_{_hex(rng, 16)}",
            org_id=rng.choice(orgs),
            keys=tuple(f"fp_{_hex(rng, 16)}" for _ in range(rng.randint(1, 3))),
            ips=tuple(_ip(rng) for _ in range(rng.randint(1, 4))),
            user_agent=rng.choice(USER_AGENTS),
        )
        for _ in range(ACCOUNTS)
    ]


class _Text:
    """Runs of random words, cut from one long pool: a slice costs O(1) per row, and
    the pool is far longer than gzip's 32 KiB window, so it compresses like fresh text."""

    def __init__(self, rng: random.Random, chars: int = 4 * 1024 * 1024) -> None:
        self.pool = " ".join(rng.choices(WORDS, k=chars // 7))
        self.rng = rng

    def __call__(self, chars: int) -> str:
        start = self.pool.index(" ", self.rng.randrange(len(self.pool) - 2 * chars)) + 1
        return self.pool[start : self.pool.index(" ", start + chars)]


def records(count: int, seed: int) -> Iterator[dict]:
    """`count` query-log records in timestamp order, the same for the same seed."""
    rng = random.Random(seed)
    people = accounts(rng)
    words = _Text(rng)
    # Heavy-tailed: a few accounts send most of the traffic, as in an extraction case.
    weights = list(accumulate(1 / (rank + 1) ** 0.9 for rank in range(len(people))))
    step = SPAN / max(count, 1)
    for index in range(count):
        person = rng.choices(people, cum_weights=weights)[0]
        prompt = rng.choice(PROMPTS).format(
            lang=rng.choice(LANGUAGES),
            role=rng.choice(ROLES),
            text=words(rng.randint(120, 600)),
        )
        response = rng.choice(RESPONSES).format(
            text=words(rng.randint(150, 700)),
            more=words(60),
            tail=words(40),
            score=rng.randint(1, 9),
        )
        params: dict = {
            "temperature": rng.choice((0, 0.2, 0.7, 1.0)),
            "max_tokens": rng.choice((256, 512, 1024, 4096)),
        }
        if rng.random() < 0.3:
            params["logprobs"] = rng.choice((True, 5, 20))
        at = START + step * index + timedelta(microseconds=rng.randint(0, 999_999))
        yield {
            "timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "request_id": f"req_{_hex(rng, 24)}",
            "account_id": person.account_id,
            "org_id": person.org_id,
            "api_key_fp": rng.choice(person.keys),
            "ip": rng.choice(person.ips),
            "user_agent": person.user_agent,
            "model": rng.choice(MODELS),
            "prompt": prompt,
            "prompt_sha256": hashlib.sha256(prompt.encode()).hexdigest(),
            "response": response,
            "response_sha256": hashlib.sha256(response.encode()).hexdigest(),
            "prompt_tokens": len(prompt) // 4 + rng.randint(0, 8),
            "completion_tokens": len(response) // 4 + rng.randint(0, 8),
            "params": params,
        }


def write_ndjson_gz(path: Path, count: int, seed: int) -> Generated:
    """Write `count` records to `path` as gzip NDJSON (level 6, like `gzip`)."""
    uncompressed, pending = 0, []
    with gzip.open(path, "wb", compresslevel=6) as out:
        for record in records(count, seed):
            pending.append(orjson.dumps(record) + b"\n")
            if len(pending) >= WRITE_EVERY:
                chunk = b"".join(pending)
                uncompressed += len(chunk)
                out.write(chunk)
                pending = []
        chunk = b"".join(pending)
        uncompressed += len(chunk)
        out.write(chunk)
    return Generated(count, path.stat().st_size, uncompressed)
