"""analysis_run: read the rows, measure each account, link accounts, describe the
clusters, and return one JSON-serialisable result (see analysis/engine/__init__.py)."""

import gc
from collections.abc import Callable
from typing import Any

import numpy as np

from analysis.engine import clusters as C
from analysis.engine import edges as E
from analysis.engine import signals as S
from analysis.engine.linkage import Links, link, shared_values
from analysis.engine.load import Facts, Reader
from analysis.engine.parameters import analysis_parameters_clean
from analysis.engine.templates import templates, with_hashes
from analysis.engine.timing import timing

IGNORED_SHOWN = 10  # most common values (shared by too many to link) listed per kind


def analysis_run(
    *,
    batch_ids: list[int],
    parameters: dict[str, Any],
    progress: Callable[[int, str], None] | None = None,
) -> dict[str, Any]:
    """Analyse the query-log rows of `batch_ids` (and nothing else). Reads only;
    deterministic for the same rows and parameters."""
    # The result is a few hundred thousand small dicts and strings, none in a cycle:
    # the collector would walk them all again and again as they are made (measured:
    # it took a third of the time spent writing the accounts' signals).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _run(batch_ids, analysis_parameters_clean(parameters), progress)
    finally:
        if collecting:
            gc.enable()


def _run(
    batch_ids: list[int],
    parameters: dict[str, Any],
    progress: Callable[[int, str], None] | None,
) -> dict[str, Any]:
    say = progress or (lambda percent, stage: None)
    reader = Reader(batch_ids, parameters)
    try:
        facts = reader.facts(say)
        size = len(facts.accounts)
        if not size:
            say(100, "No query-log rows to analyse")
            return _empty()
        say(15, "Measuring request timing")
        measured = timing(facts.counts, facts.times, parameters["min_gaps"])
        # All that needs no prompt is done while the sampled prompts are grouped
        # (see load.py).
        every = S.timing_signals(facts.counts, measured)
        say(25, "Aggregating attributes and parameters")
        reader.combinations(facts)
        signals = S.compute(facts, measured, parameters)
        S.harvesting_signals(signals, every)
        say(35, "Linking accounts by shared values")
        shared = shared_values(facts, parameters)
        say(50, "Matching prompt templates")
        reader.sample(facts)
        assert facts.sampled is not None  # set by reader.sample()
        accounts, prompts = facts.sampled
        found = templates(prompts, accounts, size)
    finally:
        reader.close()
    found = with_hashes(found, facts.hashed_prompts, size)
    S.with_templates(signals, found)
    say(70, "Linking accounts")
    links = link(facts, found, parameters, shared)
    say(82, "Describing clusters")
    described, member_of, listed = _clusters(facts, signals, links, parameters)
    say(92, "Writing each account's signals")
    result = {
        "population": _population(facts, signals, links, listed),
        "clusters": described,
        "accounts": _accounts(facts, signals, member_of, parameters, every),
        "edges": listed,
    }
    say(100, "Done")
    return result


def _empty() -> dict[str, Any]:
    return {
        "population": {
            "accounts": 0,
            "rows": 0,
            "baselines": dict.fromkeys(S.SIGNALS),
        },
        "clusters": [],
        "accounts": [],
        "edges": [],
    }


def _clusters(
    facts: Facts, signals: S.Signals, links: Links, parameters: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[str | None], list[dict[str, Any]]]:
    label = links.label
    sizes = np.bincount(label)
    big = np.flatnonzero(sizes >= parameters["min_cluster_size"])
    matrix = links.weights
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    strength = np.bincount(label[rows], weights=matrix.data, minlength=sizes.size)
    # Strongest first: total weight of the cluster's edges, then size.
    big = big[np.lexsort((-sizes[big], -strength[big]))]
    member_of: list[str | None] = [None] * len(facts.accounts)
    described = []
    rng = np.random.default_rng(C.SEED)
    everyone = np.arange(len(facts.accounts))
    for number, component in enumerate(big, start=1):
        members = np.flatnonzero(label == component)
        members = members[np.lexsort((members, -facts.counts[members]))]
        name = f"C{number}"
        for m in members:
            member_of[m] = name
        sync = C.synchrony(
            facts.times,
            facts.counts,
            members,
            everyone[label != component],
            signals.timing.first,
            signals.timing.last,
            parameters["synchrony_sample"],
            rng,
        )
        shared = C.shared_attributes(links, members)
        cluster_signals = C.cluster_signals(signals, members, sync, parameters)
        described.append(
            {
                "id": name,
                "accounts": [facts.accounts[m] for m in members],
                "volume": int(facts.counts[members].sum()),
                "reasons": C.cluster_reasons(shared, cluster_signals, members.size),
                "signals": cluster_signals,
                "shared_attributes": [
                    entry
                    for entries, _ in shared.values()
                    for entry in entries[: C.PER_KIND]
                ],
                "synchrony": cluster_signals["synchrony"]["value"],
                "synchrony_baseline": cluster_signals["synchrony"]["baseline"],
                "strength": round(float(strength[component]), 4),
                "edges": int((label[rows] == component).sum()),
                "first_seen": C.iso(int(signals.timing.first[members].min())),
                "last_seen": C.iso(int(signals.timing.last[members].max())),
            }
        )
    clustered = np.flatnonzero(np.isin(label, big))
    a, b, weight = E.chosen(
        links, E.internal(links, clustered), parameters["max_edges"]
    )
    phrases, kinds = E.reasons(links, a, b)
    listed = [
        {
            "a": facts.accounts[a[i]],
            "b": facts.accounts[b[i]],
            "weight": round(float(weight[i]), 4),
            "reasons": phrases[i],
            "summary": E.summary(phrases[i]),
            "weights": kinds[i],
            "cluster": member_of[a[i]],
        }
        for i in range(len(a))
    ]
    return described, member_of, listed


def _population(
    facts: Facts, signals: S.Signals, links: Links, listed: list[Any]
) -> dict[str, Any]:
    ignored = []
    for kind, attribute in links.attributes.items():
        common = np.flatnonzero(attribute.spread > links.cap)
        common = common[np.argsort(-attribute.spread[common], kind="stable")]
        ignored += [
            {
                "kind": kind,
                "value": attribute.values[v],
                "accounts": int(attribute.spread[v]),
            }
            for v in common[:IGNORED_SHOWN]
        ]
    assert signals.found is not None  # set by with_templates() in analyse()
    return {
        "accounts": len(facts.accounts),
        "rows": int(facts.rows),
        "baselines": {
            name: S.number(value) for name, value in signals.baselines.items()
        },
        "edge_threshold": round(links.threshold, 4),
        "shared_value_cap": links.cap,
        "edges_total": int(links.weights.nnz),
        "edges_listed": len(listed),
        "max_tokens_threshold": signals.max_tokens_threshold,
        "prompt_sample": {
            "fraction": round(facts.sample_fraction, 6),
            "distinct_prompts": signals.found.texts,
            "near_duplicate_pairs": signals.found.near_duplicate_pairs,
            "templates_shared": len(signals.found.values),
        },
        "ignored_common_values": ignored,
    }


def _accounts(
    facts: Facts,
    signals: S.Signals,
    member_of: list[str | None],
    parameters: dict[str, Any],
    every: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    # Accounts are in account_id order already; a stable sort keeps it among equals.
    order = np.argsort(-facts.counts, kind="stable").tolist()
    S.template_signals(signals, parameters, every)
    first, last = C.isos(signals.timing.first), C.isos(signals.timing.last)
    volume = facts.counts.tolist()
    return [
        {
            "account_id": facts.accounts[i],
            "cluster": member_of[i],
            "volume": volume[i],
            "first_seen": first[i],
            "last_seen": last[i],
            "signals": every[i],
        }
        for i in order
    ]
