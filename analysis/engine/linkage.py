"""Accounts linked by the values they share, each value weighted by its rarity.

For each kind of attribute an incidence matrix B (values x accounts) holds the values
shared by 2 to `cap` accounts; a value shared by k of N accounts weighs ln(N / k), the
surprise of a random account having it. A pair's weight for that kind is
(B^T diag(w) B)[a, b], one sparse product, so no list of pairs is ever built for a
value; a value shared by more than `cap` accounts makes no edge at all (it would say
little and cost k^2). An IP implies its network, so the two count once: the larger of
the pair's IP weight and its network weight. Edges are the pairs whose total reaches
the threshold; clusters are the connected components of the edges.
"""

import math
import socket
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from analysis.engine.columns import factorise
from analysis.engine.load import Facts
from analysis.engine.templates import Templates

NETWORK = ("ip", "ip_prefix")


@dataclass
class Attribute:
    kind: str
    values: list[str]
    spread: np.ndarray  # accounts sharing each value (in the whole population)
    weight: np.ndarray  # ln(N / spread)
    links: np.ndarray  # bool: 2 <= spread <= cap
    incidence: sparse.csr_matrix  # values x accounts, 1 where the account has it


@dataclass
class Links:
    threshold: float
    cap: int
    weights: sparse.csr_matrix  # upper triangle, weight >= threshold only
    label: np.ndarray  # connected component of each account
    attributes: dict[str, Attribute]
    by_kind: dict[str, sparse.csr_matrix]  # each kind's pair weights (symmetric)


_V4_MAPPED = bytes(10) + b"\xff\xff"


def network_prefix(address: str, v4: int, v6: int) -> str:
    """'203.0.113.7' -> '203.0.113.0/24'; through socket's C parsers, as ipaddress
    takes 30 microseconds an address and a case has tens of thousands."""
    family, bits = (socket.AF_INET6, 128) if ":" in address else (socket.AF_INET, 32)
    packed = socket.inet_pton(family, address)
    if bits == 128 and packed[:12] == _V4_MAPPED:  # ::ffff:a.b.c.d is IPv4 a.b.c.d
        family, bits, packed = socket.AF_INET, 32, packed[12:]
    length = v6 if bits == 128 else v4
    value = int.from_bytes(packed, "big") >> (bits - length) << (bits - length)
    return f"{socket.inet_ntop(family, value.to_bytes(bits // 8, 'big'))}/{length}"


def _attribute(
    kind: str,
    value_of: np.ndarray,
    account_of: np.ndarray,
    names: list[str],
    size: int,
    cap: int,
) -> Attribute:
    distinct = np.unique(value_of * size + account_of)
    value, account = distinct // size, distinct % size
    spread = np.bincount(value, minlength=len(names))
    with np.errstate(divide="ignore"):
        weight = np.log(size / np.maximum(spread, 1))
    links = (spread >= 2) & (spread <= cap)
    keep = links[value]
    incidence = sparse.csr_matrix(
        (np.ones(int(keep.sum())), (value[keep], account[keep])),
        shape=(len(names), size),
    )
    return Attribute(kind, names, spread, weight, links, incidence)


def attributes(
    facts: Facts, parameters: dict[str, Any], cap: int
) -> dict[str, Attribute]:
    """Every kind's Attribute but prompt_template's (see link)."""
    size = len(facts.accounts)
    result: dict[str, Attribute] = {}
    for kind, (code, names, account) in facts.attributes.items():
        result[kind] = _attribute(kind, code, account, names, size, cap)
        if kind == "ip":
            v4, v6 = parameters["ipv4_prefix"], parameters["ipv6_prefix"]
            net_code, net_names = factorise([network_prefix(n, v4, v6) for n in names])
            result["ip_prefix"] = _attribute(
                "ip_prefix", net_code[code], account, net_names, size, cap
            )
    return result


def threshold_for(size: int, parameters: dict[str, Any]) -> float:
    """ln(N) + ln(1 / chance_partners) unless set: an account would share that much
    weight with a random other account with probability chance_partners / N, so with
    fewer than chance_partners accounts of the whole population by chance."""
    if parameters["edge_threshold"] is not None:
        return float(parameters["edge_threshold"])
    return math.log(max(size, 2)) + math.log(1 / parameters["chance_partners"])


def cap_for(size: int, parameters: dict[str, Any]) -> int:
    group: int = parameters["max_group"]
    return max(2, min(int(parameters["max_share"] * size), group))


def _pair_weights(attribute: Attribute) -> sparse.csr_matrix:
    weighted = sparse.diags(np.where(attribute.links, attribute.weight, 0.0))
    # The diagonal (an account with itself) is left in: only the upper triangle
    # becomes edges.
    pairs: sparse.csr_matrix = (
        attribute.incidence.T @ weighted @ attribute.incidence
    ).tocsr()
    return pairs


@dataclass
class Shared:
    """What link needs besides the prompt templates: worked out while the prompts
    are still being grouped."""

    cap: int
    attributes: dict[str, Attribute]
    by_kind: dict[str, sparse.csr_matrix]


def shared_values(facts: Facts, parameters: dict[str, Any]) -> Shared:
    cap = cap_for(len(facts.accounts), parameters)
    kinds = set(parameters["link_kinds"])
    found = attributes(facts, parameters, cap)
    by_kind = {
        kind: _pair_weights(attribute)
        for kind, attribute in found.items()
        if kind in kinds
    }
    return Shared(cap, found, by_kind)


def link(
    facts: Facts, found: Templates, parameters: dict[str, Any], shared: Shared
) -> Links:
    size = len(facts.accounts)
    template = _attribute(
        "prompt_template",
        found.value_of,
        found.account_of,
        found.values,
        size,
        shared.cap,
    )
    found_attributes = {**shared.attributes, "prompt_template": template}
    by_kind = dict(shared.by_kind)
    if "prompt_template" in parameters["link_kinds"]:
        by_kind["prompt_template"] = _pair_weights(template)
    total = sparse.csr_matrix((size, size))
    network = [by_kind[k] for k in NETWORK if k in by_kind]
    if network:
        total = total + (
            network[0].maximum(network[1]) if len(network) == 2 else network[0]
        )
    for kind, pairs in by_kind.items():
        if kind not in NETWORK:
            total = total + pairs
    threshold = threshold_for(size, parameters)
    upper = sparse.triu(total, k=1).tocsr()
    upper.data[upper.data < threshold] = 0
    upper.eliminate_zeros()
    _, label = csgraph.connected_components(upper, directed=False)
    return Links(threshold, shared.cap, upper, label, found_attributes, by_kind)
