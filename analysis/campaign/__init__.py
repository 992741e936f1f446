"""Synthetic query-log populations with planted extraction campaigns and their ground
truth, for the quality tests, the benchmark, the demo case and `generate_campaign`.

`population_generate(Spec(...))` decides who the accounts are and when they send;
`Population.ndjson()` yields the records as contract NDJSON (time order, lazily, so a
million rows take little memory); `population_ingest` posts them through the real
ingestion service, so the rows are evidence with custody like any detector's upload.
The same spec and seed always give the same bytes.
"""

import gzip
import heapq
import random
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import IO

import orjson

from analysis.campaign import traffic
from analysis.campaign.accounts import (
    Account,
    Campaign,
    campaign_accounts,
    campaign_kit,
    ordinary_accounts,
)
from analysis.campaign.text import campaign_templates

START = datetime(2026, 11, 2, tzinfo=UTC)
TEMPLATES_PER_CAMPAIGN = 24
WRITE_EVERY = 2000  # lines per write


@dataclass(frozen=True)
class Spec:
    benign: int = 5000
    campaign_size: int = 200
    campaigns: int = 1
    benign_rows: tuple[int, int] = (10, 20)
    campaign_rows: tuple[int, int] = (20, 40)
    days: int = 14
    seed: int = 20261102
    start: datetime = START
    total_rows: int | None = None  # exactly this many rows (ordinary volumes adjusted)
    # Ids and card fingerprint for the first campaign, so a story can name them.
    named_accounts: tuple[str, ...] = ()
    named_payment_fp: str | None = None


@dataclass
class Population:
    spec: Spec
    accounts: list[Account]
    campaigns: list[Campaign]
    times: dict[str, list[float]]

    @property
    def rows(self) -> int:
        return sum(len(times) for times in self.times.values())

    def groups(self) -> list[str]:
        return ["benign"] + [f"campaign-{c.index + 1}" for c in self.campaigns]

    def truth(self) -> dict:
        """Who is who, as plain lists of account ids (and what each campaign used)."""
        return {
            "spec": {**asdict(self.spec), "start": self.spec.start.isoformat()},
            "rows": self.rows,
            "benign": [a.account_id for a in self.accounts if a.campaign is None],
            "campaigns": [
                {
                    "accounts": [a.account_id for a in c.accounts],
                    "proxies": c.proxies,
                    "user_agents": list(c.user_agents),
                    "payment_fps": c.payment_fps,
                    "templates": c.templates,
                }
                for c in self.campaigns
            ],
        }

    def records(self, groups: Iterable[str] | None = None) -> Iterator[dict]:
        """Records of the accounts in `groups` (default all), merged in time order."""
        wanted = set(groups or self.groups())
        rng = random.Random(f"{self.spec.seed}-records-{sorted(wanted)}")
        streams = []
        for account in self.accounts:
            group = (
                "benign"
                if account.campaign is None
                else f"campaign-{account.campaign + 1}"
            )
            if group in wanted:
                templates = (
                    self.campaigns[account.campaign].templates
                    if account.campaign is not None
                    else []
                )
                streams.append(
                    traffic.records(
                        rng,
                        account,
                        self.times[account.account_id],
                        self.spec.start,
                        templates,
                    )
                )
        for _, record in heapq.merge(*streams, key=lambda item: item[0]):
            yield record

    def ndjson(self, groups: Iterable[str] | None = None) -> Iterator[bytes]:
        """The records as NDJSON, in chunks of a few thousand lines."""
        pending = []
        for record in self.records(groups):
            pending.append(orjson.dumps(record) + b"\n")
            if len(pending) >= WRITE_EVERY:
                yield b"".join(pending)
                pending = []
        if pending:
            yield b"".join(pending)

    def write(
        self, out: IO[bytes] | gzip.GzipFile, groups: Iterable[str] | None = None
    ) -> int:
        written = 0
        for chunk in self.ndjson(groups):
            out.write(chunk)
            written += len(chunk)
        return written


def population_generate(spec: Spec) -> Population:
    rng = random.Random(spec.seed)
    accounts = ordinary_accounts(rng, spec.benign, spec.benign_rows)
    campaigns = []
    for index in range(spec.campaigns):
        kit = campaign_kit(rng, index)
        kit.templates = campaign_templates(rng, index, TEMPLATES_PER_CAMPAIGN)
        accounts.extend(
            campaign_accounts(rng, kit, spec.campaign_size, spec.campaign_rows)
        )
        traffic.campaign_schedule(rng, kit, spec.days)
        campaigns.append(kit)
    if campaigns:
        _name(campaigns[0], spec)
    times = {
        a.account_id: traffic.campaign_times(rng, campaigns[a.campaign], a)
        for a in accounts
        if a.campaign is not None
    }
    ordinary = [a for a in accounts if a.campaign is None]
    if spec.total_rows is not None:
        _fit(ordinary, spec.total_rows - sum(len(t) for t in times.values()))
    for account in ordinary:
        timing = (
            traffic.automation_times
            if account.kind == "automation"
            else traffic.person_times
        )
        times[account.account_id] = timing(rng, account, spec.days)
    return Population(spec=spec, accounts=accounts, campaigns=campaigns, times=times)


def _name(kit: Campaign, spec: Spec) -> None:
    for account, name in zip(kit.accounts, spec.named_accounts, strict=False):
        account.account_id = name
    if spec.named_payment_fp and kit.payment_fps:
        old, kit.payment_fps[0] = kit.payment_fps[0], spec.named_payment_fp
        for account in kit.accounts:
            if account.payment_fp == old:
                account.payment_fp = spec.named_payment_fp


def _fit(ordinary: list[Account], rows: int) -> None:
    """Spread `rows` over the ordinary accounts in proportion to their volumes."""
    if not ordinary or rows < len(ordinary):
        raise ValueError(f"{rows} rows cannot be spread over {len(ordinary)} accounts.")
    planned = sum(a.rows for a in ordinary)
    for account in ordinary:
        account.rows = max(1, account.rows * rows // planned)
    short = rows - sum(a.rows for a in ordinary)
    step = 1 if short > 0 else -1
    index = 0
    while short:
        account = ordinary[index % len(ordinary)]
        if step > 0 or account.rows > 1:
            account.rows += step
            short -= step
        index += 1


def population_ingest(
    population: Population,
    *,
    incident,
    by,
    groups: Iterable[str] | None = None,
    idempotency_key: str | None = None,
):
    """Post the records of `groups` (default all) as one gzip NDJSON batch through
    evidence.services.querylogs.query_log_ingest; returns the batch."""
    from evidence.services.querylogs import query_log_ingest

    with tempfile.TemporaryFile() as body:
        with gzip.GzipFile(fileobj=body, mode="wb", compresslevel=1, mtime=0) as out:
            population.write(out, groups)
        body.seek(0)
        batch, _ = query_log_ingest(
            incident=incident,
            by=by,
            stream=body,
            content_type="application/x-ndjson",
            content_encoding="gzip",
            idempotency_key=idempotency_key,
        )
    return batch
