"""How an analysis result reads to people: signal names and formats, the method in
plain words, and the cluster and account tables shared by the pages and the dossier."""

from analysis.graph import colour
from config.formats import fmt_p, fmt_rounded, fmt_stamp

# Signal key -> (column label, kind); kinds pick the number format.
SIGNALS: dict[str, tuple[str, str]] = {
    "volume": ("Requests", "count"),
    "active_span_hours": ("Active span (h)", "number"),
    "burst_score": ("Burst score", "number"),
    "gap_cv": ("Gap CV", "number"),
    "hour_entropy": ("Hour entropy (bits)", "number"),
    "template_rate": ("Template rate", "rate"),
    "temperature_zero_rate": ("Temperature 0", "rate"),
    "max_tokens_rate": ("Maximal max_tokens", "rate"),
    "logprobs_rate": ("Logprobs", "rate"),
    "multi_sample_rate": ("n > 1", "rate"),
}
# Signals a cluster may carry besides the per-account ones.
CLUSTER_SIGNALS: dict[str, tuple[str, str]] = {"synchrony": ("Synchrony", "corr")}
SORT_KEYS = ("account", "cluster", *SIGNALS)


def method_text(parameters: dict) -> list[str]:
    """The method in plain words, with the figures this analysis was run with."""
    jaccard = parameters.get("template_jaccard", 0.8)
    words = parameters.get("shingle_words", 5)
    v4, v6 = parameters.get("ipv4_prefix", 24), parameters.get("ipv6_prefix", 48)
    return [
        "Every query-log row of the batches listed below was read; nothing else was. "
        "The result depends only on those rows, the parameters and the code version, "
        "so the analysis can be re-run and compared.",
        "Per-account signals, each with the population baseline (the median account) "
        "and a plain explanation: volume and active span; burst score (hourly count "
        "minus the median, over 1.4826 times the median absolute deviation across the "
        "incident's accounts); timing regularity (coefficient of variation of the gaps "
        "between requests, where scripts sit far below 1, and hour-of-day entropy, "
        "where log2(24) = 4.58 bits means no sleep); template rate (share of prompts "
        f"with a MinHash Jaccard match of at least {jaccard:g} on word {words}-grams, "
        "or exact prompt_sha256 matches when no text was sent); and the harvesting "
        "profile (share of requests with temperature 0, maximal max_tokens, logprobs "
        "or n > 1), each compared with the rest of the population by a two-proportion "
        "test.",
        "Linkage: accounts sharing an attribute (IP address, "
        f"/{v4} or /{v6} network, API-key fingerprint, organisation, user agent, "
        "payment fingerprint, prompt template) are linked; each shared value weighs "
        "ln(N / number of accounts sharing it), so rare values count most, and a value "
        "shared by too many accounts links nobody. A link needs a total weight at or "
        "above the threshold; clusters are the connected components of the links with "
        "at least the minimum cluster size, and every link keeps its reasons.",
        "Synchrony is the mean pairwise correlation of the members' per-minute "
        "request counts.",
    ]


def signal_rows(signals: dict) -> list[dict]:
    """One row per known signal (in the usual order), then any others."""
    names = [n for n in SIGNALS if n in signals] + sorted(
        n for n in signals if n not in SIGNALS
    )
    rows = []
    for name in names:
        entry = signals.get(name) or {}
        label, kind = {**SIGNALS, **CLUSTER_SIGNALS}.get(
            name, (name.replace("_", " ").capitalize(), "number")
        )
        rows.append(
            {
                "name": name,
                "label": label,
                "value": fmt_rounded(entry.get("value"), kind),
                "baseline": fmt_rounded(entry.get("baseline"), kind),
                "p_value": fmt_p(entry.get("p_value")),
                "explanation": entry.get("explanation") or "",
            }
        )
    return rows


def cluster_rows(result: dict, limit: int | None = None) -> list[dict]:
    clusters = (result or {}).get("clusters") or []
    return [
        {
            "id": c.get("id"),
            "colour": colour(index),
            "size": len(c.get("accounts") or []),
            "volume": fmt_rounded(c.get("volume"), "count"),
            "synchrony": fmt_rounded(c.get("synchrony"), "corr"),
            "reasons": list(c.get("reasons") or []),
            "first_seen": fmt_stamp(c.get("first_seen")),
            "last_seen": fmt_stamp(c.get("last_seen")),
        }
        for index, c in enumerate(clusters[:limit])
    ]


def _sort_value(account: dict, key: str):
    if key == "account":
        return str(account.get("account_id"))
    if key == "cluster":  # C2 before C10; ids of another shape after, by text
        cluster = account.get("cluster")
        if not cluster:
            return None
        number = str(cluster)[1:]
        return (0, int(number), "") if number.isdigit() else (1, 0, str(cluster))
    if key == "volume":
        return account.get("volume")
    return ((account.get("signals") or {}).get(key) or {}).get("value")


def accounts_sorted(accounts: list[dict], sort: str) -> tuple[list[dict], str]:
    """Sort by `sort` ("key" or "-key"; unknown keys fall back to "-volume"). Missing
    values go last whichever the direction; ties keep volume order."""
    key = sort.lstrip("-")
    if key not in SORT_KEYS:
        sort, key = "-volume", "volume"
    descending = sort.startswith("-")
    present = [a for a in accounts if _sort_value(a, key) is not None]
    missing = [a for a in accounts if _sort_value(a, key) is None]
    present.sort(key=lambda a: _sort_value(a, key), reverse=descending)
    return present + missing, sort


def account_row(account: dict) -> dict:
    signals = account.get("signals") or {}
    cells = []
    for name, (_, kind) in SIGNALS.items():
        entry = signals.get(name) or {}
        value = account.get("volume") if name == "volume" else entry.get("value")
        cells.append(
            {
                "name": name,
                "value": fmt_rounded(value, kind),
                "title": entry.get("explanation") or "",
            }
        )
    return {
        "account_id": account.get("account_id"),
        "cluster": account.get("cluster"),
        "cells": cells,
    }
