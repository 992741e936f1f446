"""When accounts send requests and what each request looks like.

People work in sessions in their waking hours, with irregular gaps and days off. A
few ordinary accounts are automations: one request a day at a fixed time. A campaign
runs a scheduler ticking every 15 minutes round the clock; each account fires on
every `period`-th tick from its slot (accounts created in the same burst and slot fire
in the same minute), with a few seconds of jitter and some ticks skipped.
"""

import hashlib
import random
from collections.abc import Iterator
from datetime import datetime, timedelta

from analysis.campaign import text
from analysis.campaign.accounts import Account, Campaign

WAVE_SECONDS = 900
DAY = 86400
# Local hours people send requests in, and how much.
_HOURS = tuple(range(7, 24))
_HOUR_WEIGHTS = (2, 4, 6, 8, 8, 7, 5, 7, 8, 8, 7, 5, 4, 5, 6, 5, 3)


def person_times(rng: random.Random, account: Account, days: int) -> list[float]:
    """Seconds from the population's start, in order."""
    times: list[float] = []
    while len(times) < account.rows:
        local = rng.choices(_HOURS, weights=_HOUR_WEIGHTS)[0]
        at: float = rng.randrange(days) * DAY + ((local - account.tz) % 24) * 3600
        at += rng.random() * 3600
        for _ in range(min(account.rows - len(times), 1 + int(rng.expovariate(0.4)))):
            times.append(at)
            at += 5 + rng.expovariate(1 / 120)
    return sorted(min(t, days * DAY - 1) for t in times)


def automation_times(rng: random.Random, account: Account, days: int) -> list[float]:
    at = rng.randrange(DAY)
    first = rng.randrange(max(1, days - account.rows)) if account.rows < days else 0
    return sorted(
        ((first + i) % days) * DAY + min(DAY - 1, max(0, at + rng.uniform(-60, 60)))
        for i in range(account.rows)
    )


def campaign_schedule(rng: random.Random, kit: Campaign, days: int) -> None:
    """Place the campaign in the window and give each account its burst and slot."""
    active_days = min(days, max(3, days // 2))
    kit.start_seconds = rng.randrange(max(1, days - active_days + 1)) * DAY
    kit.start_seconds += rng.randrange(24) * 3600
    kit.waves = active_days * DAY // WAVE_SECONDS - 1
    # Accounts are created in a few bursts in the first third of the campaign.
    bursts = sorted(rng.randrange(max(1, kit.waves // 3)) for _ in range(4))
    for account in kit.accounts:
        account.start_wave = rng.choice(bursts)
        account.phase = rng.randrange(account.period)


def campaign_times(rng: random.Random, kit: Campaign, account: Account) -> list[float]:
    times: list[float] = []
    wave = account.start_wave + account.phase
    while len(times) < account.rows and wave < kit.waves:
        if rng.random() > 0.08:  # a tick skipped: rate-limited, retried next time
            times.append(kit.start_seconds + wave * WAVE_SECONDS + rng.uniform(0, 25))
        wave += account.period
    return times


def _params(rng: random.Random, account: Account) -> dict:
    if account.kind == "campaign":
        params: dict = {
            "temperature": 0 if rng.random() < account.temperature_zero_share else 0.3,
            "max_tokens": 8192 if rng.random() < account.max_tokens_share else 4096,
        }
    else:
        params = {}
        temperature = (
            account.temperature
            if rng.random() < 0.85
            else rng.choice((None, 1.0, 0.7, 0.5))
        )
        if temperature is not None:
            params["temperature"] = temperature
        if account.max_tokens is not None:
            params["max_tokens"] = account.max_tokens
    if rng.random() < account.logprobs_share:
        params["logprobs"] = 5 if account.kind == "campaign" else True
    if rng.random() < account.multi_share:
        params["n"] = 4 if account.kind == "campaign" else 2
    return params


def records(
    rng: random.Random,
    account: Account,
    times: list[float],
    start: datetime,
    templates: list[str],
) -> Iterator[tuple[float, dict]]:
    """(time, record) for each of `times`, lazily, in order."""
    harvesting = account.kind == "campaign"
    for at in times:
        if harvesting and rng.random() < 0.88:
            prompt = rng.choice(templates).replace("{fill}", rng.choice(text.FILLS))
            model = "atlas-3" if rng.random() < 0.8 else "atlas-2"
        else:
            prompt = text.ordinary_prompt(rng)
            model = rng.choice(("atlas-2", "atlas-2-mini", "atlas-3"))
        reply = text.response(rng, harvesting)
        moment = start + timedelta(seconds=at)
        record = {
            "timestamp": moment.isoformat(timespec="milliseconds").replace(
                "+00:00", "Z"
            ),
            "account_id": account.account_id,
            "request_id": f"req_{rng.getrandbits(96):024x}",
            "org_id": account.org_id,
            "api_key_fp": rng.choice(account.keys),
            "ip": rng.choice(account.ips),
            "user_agent": rng.choice(account.user_agents),
            "model": model,
            "prompt_sha256": hashlib.sha256(prompt.encode()).hexdigest(),
            "response_sha256": hashlib.sha256(reply.encode()).hexdigest(),
            "prompt_tokens": len(prompt) // 4 + 3,
            "completion_tokens": len(reply) // 4 + rng.randint(0, 40),
            "params": _params(rng, account),
        }
        if account.kind != "hash_only":  # zero-retention accounts: hashes only
            record["prompt"], record["response"] = prompt, reply
        if account.payment_fp:
            record["extra"] = {"payment_fp": account.payment_fp}
        yield at, record
