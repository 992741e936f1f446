"""Which edges the result lists, and why each exists, in words.

A cluster of hundreds of accounts has tens of thousands of edges; the result lists
each cluster's maximum spanning forest (so a drawing shows every cluster connected)
and then the strongest others, up to `max_edges`. Each listed edge names what its two
accounts share: "share IP 203.0.113.7 and 41 prompt templates".
"""

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from analysis.engine.linkage import NETWORK, Links

# kind -> (one value, several values); {v} is a value, {n} how many.
PHRASES = {
    "ip": ("share IP {v}", "share {n} IPs, e.g. {v}"),
    "ip_prefix": ("share network {v}", "share {n} networks, e.g. {v}"),
    "api_key_fp": ("share API key {v}", "share {n} API keys, e.g. {v}"),
    "org_id": ("belong to organisation {v}", "share {n} organisations, e.g. {v}"),
    "user_agent": ("use the same client '{v}'", "share {n} clients, e.g. '{v}'"),
    "payment_fp": (
        "pay with card fingerprint {v}",
        "share {n} payment fingerprints, e.g. {v}",
    ),
    "prompt_template": ("share 1 prompt template", "share {n} prompt templates"),
}


def internal(links: Links, members: np.ndarray) -> np.ndarray:
    """Mask over links.weights' stored entries: edges whose ends are both members."""
    inside = np.zeros(links.label.size, dtype=bool)
    inside[members] = True
    rows = np.repeat(np.arange(links.weights.shape[0]), np.diff(links.weights.indptr))
    return inside[rows] & inside[links.weights.indices]


def chosen(links: Links, mask: np.ndarray, limit: int) -> tuple[np.ndarray, ...]:
    """(a, b, weight) of the listed edges among those in `mask`, strongest first."""
    matrix = links.weights
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    a, b, weight = rows[mask], matrix.indices[mask], matrix.data[mask]
    if not weight.size or limit <= 0:
        return a[:0], b[:0], weight[:0]
    # Maximum spanning forest: a minimum one over (heaviest + 1 - weight) > 0.
    flipped = sparse.csr_matrix((weight.max() + 1 - weight, (a, b)), shape=matrix.shape)
    forest = csgraph.minimum_spanning_tree(flipped).tocoo()
    size = np.int64(matrix.shape[0])
    low, high = np.minimum(forest.row, forest.col), np.maximum(forest.row, forest.col)
    first = np.isin(np.minimum(a, b) * size + np.maximum(a, b), low * size + high)
    order = np.lexsort((-weight, ~first))[:limit]  # forest first, then by weight
    order = order[np.argsort(-weight[order], kind="stable")]
    return a[order], b[order], weight[order]


def reasons(
    links: Links, a: np.ndarray, b: np.ndarray
) -> tuple[list[list[str]], list[dict[str, float]]]:
    """For each edge (a[i], b[i]): its phrases, strongest kind first, and each kind's
    weight in it."""
    count = len(a)
    phrases: list[list[tuple[float, str]]] = [[] for _ in range(count)]
    weights: list[dict[str, float]] = [{} for _ in range(count)]
    if not count:
        return [], []
    shared_ip = np.zeros(count, dtype=bool)
    for kind in PHRASES:
        attribute = links.attributes.get(kind)
        if attribute is None or kind not in links.by_kind:
            continue
        by_account = attribute.incidence.T.tocsr()
        both = by_account[a].multiply(by_account[b]).tocsr()
        both.eliminate_zeros()
        found = np.diff(both.indptr)
        weight = both @ np.where(attribute.links, attribute.weight, 0.0)
        if kind == "ip":
            shared_ip = found > 0
        for i in np.flatnonzero(found):
            if kind == "ip_prefix" and shared_ip[i]:
                continue  # the IP says it already, and counts once
            values = both.indices[both.indptr[i] : both.indptr[i + 1]]
            best = values[np.argmax(attribute.weight[values])]
            one, several = PHRASES[kind]
            text = (one if found[i] == 1 else several).format(
                v=attribute.values[best], n=found[i]
            )
            phrases[i].append((float(weight[i]), text))
            weights[i][kind] = round(float(weight[i]), 4)
    for j in range(count):
        network = [weights[j].pop(k) for k in NETWORK if k in weights[j]]
        if network:
            weights[j]["network"] = max(network)
    return [[text for _, text in sorted(p, reverse=True)] for p in phrases], weights


def summary(phrases: list[str]) -> str:
    """'share IP 203.0.113.7 and 41 prompt templates' from its phrases."""
    if not phrases:
        return ""
    # "share IP 203.0.113.7 and 41 prompt templates", not "... and share 41 ..."
    rest = [
        phrase.removeprefix("share ") if before.startswith("share ") else phrase
        for before, phrase in zip(phrases, phrases[1:], strict=False)
    ]
    if not rest:
        return phrases[0]
    return ", ".join([phrases[0], *rest[:-1]]) + " and " + rest[-1]
