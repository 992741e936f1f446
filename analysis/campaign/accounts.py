"""Who is in a synthetic population: ordinary accounts with the sharing real traffic
has, and planted campaigns whose accounts are linked, though not each by everything.

Ordinary accounts mostly have their own addresses, keys, organisation and card. Real
traffic still shares some: a few NAT addresses used by two accounts, cloud addresses
in the same /24, popular clients, companies with several accounts (which pay by
invoice and work from different places), a few couples sharing a card.

A campaign rotates a handful of proxy addresses in three /24s and one IPv6 /48 over
most of its accounts (some go direct), uses two clients (one of them popular with
ordinary users too, a few accounts a browser), pays with cards shared in small groups,
sends templated prompts, and runs on a scheduler.
"""

import random
from dataclasses import dataclass, field

# Clients and how common they are among ordinary accounts (weights, not percentages).
USER_AGENTS = (
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
        "Gecko) Chrome/131.0.0.0 Safari/537.36",
        16,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7_1) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Version/18.1 Safari/605.1.15",
        9,
    ),
    ("OpenAI/Python 1.54.4", 12),
    ("atlas-python/3.2.0 (CPython 3.12.7; Linux x86_64)", 10),
    ("python-requests/2.32.3", 9),
    ("atlas-node/2.9.1 (node v22.11.0; darwin arm64)", 6),
    ("LangChain/0.3.9 python-requests/2.32.3", 5),
    ("python-httpx/0.28.1", 5),
    ("curl/8.11.0", 4),
    ("python-httpx/0.27.0", 3),
    ("Go-http-client/2.0", 3),
    ("aiohttp/3.11.9", 3),
    ("okhttp/4.12.0", 2),
)
CUSTOM_AGENT_SHARE = 0.09  # in-house apps with their own client string
CAMPAIGN_AGENTS = (
    ("python-httpx/0.27.0", "aiohttp/3.9.5 Python/3.11 (job-runner)"),
    ("python-requests/2.31.0", "okhttp/3.14.9 (distill-worker)"),
)
BROWSER = USER_AGENTS[0][0]
# Documentation ranges (RFC 5737, RFC 3849) are the campaigns' proxies; ordinary
# addresses never fall in them.
CAMPAIGN_NETWORKS = (
    ("203.0.113", "198.51.100", "192.0.2", "2001:db8:a1"),
    ("100.64.7", "100.64.19", "100.66.3", "2001:db8:b2"),
)
_RESERVED_FIRST_OCTETS = {0, 10, 100, 127, 169, 172, 192, 198, 203}
CLOUD_NETWORKS = ("34.120", "52.14", "35.186")


@dataclass
class Account:
    account_id: str
    org_id: str
    keys: list[str]
    ips: list[str]
    user_agents: list[str]
    payment_fp: str | None
    rows: int
    campaign: int | None = None  # which planted campaign; None for ordinary accounts
    kind: str = "person"  # person | automation | hash_only | campaign
    tz: int = 0  # hours east of UTC, for waking hours
    temperature: float | None = None
    max_tokens: int | None = None
    logprobs_share: float = 0.0
    multi_share: float = 0.0
    temperature_zero_share: float = 0.0
    max_tokens_share: float = 0.0
    phase: int = 0  # campaign scheduler slot
    period: int = 4  # campaign waves between requests
    start_wave: int = 0


@dataclass
class Campaign:
    index: int
    proxies: list[str]
    user_agents: tuple[str, str]
    templates: list[str] = field(default_factory=list)
    accounts: list[Account] = field(default_factory=list)
    payment_fps: list[str] = field(default_factory=list)
    start_seconds: float = 0.0
    waves: int = 0  # 15-minute scheduler ticks the campaign runs for


def hex_id(rng: random.Random, chars: int) -> str:
    return f"{rng.getrandbits(chars * 4):0{chars}x}"


def residential_ip(rng: random.Random) -> str:
    if rng.random() < 0.12:
        groups = ":".join(f"{rng.getrandbits(16):x}" for _ in range(6))
        return f"2a0{rng.randint(0, 9)}:{rng.getrandbits(16):x}:{groups}"
    first = rng.randint(1, 223)
    while first in _RESERVED_FIRST_OCTETS:
        first = rng.randint(1, 223)
    return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randint(1, 254)}"


def _agent(rng: random.Random) -> str:
    if rng.random() < CUSTOM_AGENT_SHARE:
        name = rng.choice(("acme", "helpdesk", "notes", "brief", "tutor", "shop"))
        return f"{name}-{hex_id(rng, 4)}/{rng.randint(1, 9)}.{rng.randint(0, 20)}"
    agents, weights = zip(*USER_AGENTS, strict=True)
    return rng.choices(agents, weights=weights)[0]


def ordinary_accounts(
    rng: random.Random, count: int, rows: tuple[int, int]
) -> list[Account]:
    people = []
    for _ in range(count):
        roll = rng.random()
        kind = "automation" if roll < 0.04 else "hash_only" if roll < 0.08 else "person"
        people.append(
            Account(
                account_id=f"acct_{hex_id(rng, 12)}",
                org_id=f"org_{hex_id(rng, 10)}",
                keys=[f"kfp_{hex_id(rng, 16)}" for _ in range(rng.randint(1, 2))],
                ips=[
                    f"{rng.choice(CLOUD_NETWORKS)}.{rng.randrange(256)}."
                    f"{rng.randint(1, 254)}"
                    if rng.random() < 0.08
                    else residential_ip(rng)
                    for _ in range(rng.randint(1, 3))
                ],
                user_agents=[_agent(rng)],
                payment_fp=f"pf_{hex_id(rng, 10)}" if rng.random() < 0.65 else None,
                rows=rng.randint(*rows),
                kind=kind,
                tz=rng.randint(-8, 9),
                temperature=rng.choices(
                    (None, 1.0, 0.7, 0.2, 0.0), weights=(35, 15, 25, 10, 15)
                )[0],
                max_tokens=rng.choices(
                    (None, 256, 512, 1024, 2048, 4096, 8192),
                    weights=(30, 10, 20, 15, 10, 13, 2),
                )[0],
                logprobs_share=rng.uniform(0.2, 0.6) if rng.random() < 0.03 else 0.0,
                multi_share=rng.uniform(0.1, 0.4) if rng.random() < 0.03 else 0.0,
            )
        )
    _share_naturally(rng, people)
    return people


def _share_naturally(rng: random.Random, people: list[Account]) -> None:
    """Companies with several accounts, NAT addresses and cards shared by two."""
    order = list(range(len(people)))
    rng.shuffle(order)
    cursor = 0
    for _ in range(max(1, len(people) // 130)):  # ~15% of accounts are in companies
        size = rng.randint(2, 12)
        org = f"org_{hex_id(rng, 10)}"
        for index in order[cursor : cursor + size]:
            people[index].org_id = org
            people[index].payment_fp = None  # the company pays by invoice
        cursor += size
    for _ in range(max(1, len(people) // 130)):  # NAT: one address, two households
        a, b = people[order[cursor]], people[order[cursor + 1]]
        shared = residential_ip(rng)
        a.ips[0] = b.ips[0] = shared
        cursor += 2
    for _ in range(max(1, len(people) // 200)):  # a couple sharing a card
        a, b = people[order[cursor]], people[order[cursor + 1]]
        a.payment_fp = b.payment_fp = f"pf_{hex_id(rng, 10)}"
        cursor += 2


def campaign_kit(rng: random.Random, index: int) -> Campaign:
    if index < len(CAMPAIGN_NETWORKS):
        *v4, v6 = CAMPAIGN_NETWORKS[index]
        agents = CAMPAIGN_AGENTS[index]
    else:
        v4 = [residential_ip(rng).rsplit(".", 1)[0] for _ in range(3)]
        v4 = [
            n if n.count(".") == 2 else f"45.{rng.randrange(256)}.{index}" for n in v4
        ]
        v6 = f"2001:db8:{index:x}{hex_id(rng, 2)}"
        agents = (f"harvest-{hex_id(rng, 4)}/1.0", "python-httpx/0.27.0")
    proxies = [f"{net}.{rng.randint(2, 250)}" for net in v4 for _ in range(3)]
    proxies += [f"{v6}:{rng.randint(1, 9)}::{rng.randint(2, 250):x}" for _ in range(2)]
    if index == 0:
        proxies[3] = "198.51.100.23"  # the address the demo case names
    return Campaign(index=index, proxies=sorted(set(proxies)), user_agents=agents)


def campaign_accounts(
    rng: random.Random, kit: Campaign, size: int, rows: tuple[int, int]
) -> list[Account]:
    members = []
    for _ in range(size):
        direct = rng.random() < 0.15  # goes straight from a home address
        ips = (
            [residential_ip(rng)]
            if direct
            else rng.sample(kit.proxies, rng.randint(2, min(5, len(kit.proxies))))
        )
        roll = rng.random()
        agents = [
            kit.user_agents[0]
            if roll < 0.6
            else kit.user_agents[1]
            if roll < 0.92
            else BROWSER
        ]
        members.append(
            Account(
                account_id=f"acct_{hex_id(rng, 12)}",
                org_id=f"org_{hex_id(rng, 10)}",
                keys=[f"kfp_{hex_id(rng, 16)}" for _ in range(rng.randint(1, 2))],
                ips=ips,
                user_agents=agents,
                payment_fp=None,
                rows=rng.randint(*rows),
                campaign=kit.index,
                kind="campaign",
                temperature_zero_share=rng.uniform(0.75, 1.0),
                max_tokens_share=rng.uniform(0.6, 1.0),
                logprobs_share=rng.uniform(0.5, 1.0) if rng.random() < 0.7 else 0.0,
                multi_share=rng.uniform(0.3, 1.0) if rng.random() < 0.5 else 0.0,
                period=4 if rng.random() < 0.75 else rng.choice((2, 3, 6)),
            )
        )
    # Cards: most accounts in groups of 3 to 8 sharing one, some their own, some none.
    order = list(range(size))
    rng.shuffle(order)
    cursor = 0
    while cursor < int(size * 0.7):
        group = rng.randint(3, 8)
        fp = f"pf_{hex_id(rng, 10)}"
        kit.payment_fps.append(fp)
        for index in order[cursor : cursor + group]:
            members[index].payment_fp = fp
        cursor += group
    for index in order[cursor:]:
        if rng.random() < 0.65:
            members[index].payment_fp = f"pf_{hex_id(rng, 10)}"
    kit.accounts = members
    return members
