"""What each cluster is: its members, what they share, how they behave together, and
the sentences that say so."""

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from analysis.engine import signals as S
from analysis.engine.linkage import Links
from analysis.engine.timing import mean_correlation, minute_counts, starts_of

SEED = 20261102
PER_KIND = 20  # shared values listed per kind of attribute
# kind -> (verb, one shared value, several, how a value is shown)
KIND_WORDS = {
    "prompt_template": ("send prompts from", "template", "templates", "'{v}'"),
    "ip": ("connect from", "IP address", "IP addresses", "{v}"),
    "ip_prefix": ("connect from", "network", "networks", "{v}"),
    "api_key_fp": ("use", "API key", "API keys", "{v}"),
    "org_id": ("belong to", "organisation", "organisations", "{v}"),
    "user_agent": ("use", "client", "clients", "'{v}'"),
    "payment_fp": ("pay with", "card fingerprint", "card fingerprints", "{v}"),
}


def isos(microseconds: np.ndarray) -> list[str]:
    """RFC 3339 UTC to the second ('2026-11-02T03:14:00Z') of microseconds since
    1970, for years 1 to 9999 alike."""
    moments = microseconds.astype("datetime64[us]").astype("datetime64[s]")
    return [f"{text}Z" for text in np.datetime_as_string(moments).tolist()]


def iso(microseconds: int) -> str:
    return isos(np.array([microseconds], dtype=np.int64))[0]


def shared_attributes(
    links: Links, members: np.ndarray
) -> dict[str, tuple[list[dict[str, Any]], int]]:
    """Per kind: the linking values at least two members have (most members first)
    and how many members have at least one of them."""
    found: dict[str, tuple[list[dict[str, Any]], int]] = {}
    for kind, attribute in links.attributes.items():
        if kind not in links.by_kind:
            continue
        inside = np.asarray(attribute.incidence[:, members].sum(axis=1)).ravel()
        values = np.flatnonzero(inside >= 2)
        order = np.lexsort((-attribute.weight[values], -inside[values]))
        entries = [
            {
                "kind": kind,
                "value": attribute.values[v],
                "accounts": int(inside[v]),
                "accounts_total": int(attribute.spread[v]),
                "weight": round(float(attribute.weight[v]), 4),
            }
            for v in values[order]
        ]
        if entries:
            having = attribute.incidence[values][:, members].sum(axis=0)
            found[kind] = (entries, int((np.asarray(having) > 0).sum()))
    return found


def _kind_reason(
    kind: str, listed: list[dict[str, Any]], covered: int, size: int
) -> str:
    top = listed[0]
    verb, one, several, shown = KIND_WORDS[kind]
    outside = top["accounts_total"] - top["accounts"]
    elsewhere = f", {outside:,} outside the cluster" if outside else ""
    values = len(listed)
    noun = f"{values:,} shared {several}" if values > 1 else f"a shared {one}"
    return (
        f"{covered:,} of {size:,} accounts {verb} {noun}, e.g. "
        f"{shown.format(v=top['value'])} ({top['accounts']:,} accounts{elsewhere})."
    )


def synchrony(
    times: np.ndarray,
    counts: np.ndarray,
    members: np.ndarray,
    others: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    sample: int,
    rng: np.random.Generator,
) -> tuple[float | None, float | None, int]:
    """(mean correlation of per-minute counts among up to `sample` members, the same
    among as many non-members active in the cluster's period, members sampled)."""
    starts = starts_of(counts)
    chosen = np.sort(rng.choice(members, min(sample, members.size), replace=False))
    inside = mean_correlation(minute_counts(times, starts, counts, chosen))
    begin, end = first[members].min(), last[members].max()
    active = others[(first[others] <= end) & (last[others] >= begin)]
    outside = None
    if active.size >= 2:
        picked = np.sort(
            rng.choice(active, min(chosen.size, active.size), replace=False)
        )
        outside = mean_correlation(minute_counts(times, starts, counts, picked))
    return inside, outside, int(chosen.size)


def cluster_signals(
    signals: S.Signals,
    members: np.ndarray,
    sync: tuple[Any, ...],
    parameters: dict[str, Any],
) -> dict[str, Any]:
    result = {}
    counts = signals.counts
    total = int(counts[members].sum())
    typical = S.baseline_text("volume", signals.baselines["volume"])
    result["volume"] = {
        "value": total,
        "baseline": S.number(signals.baselines["volume"]),
        "explanation": f"The {members.size:,} accounts sent {total:,} requests together "
        f"(median member {np.median(counts[members]):,.0f}; median account {typical}).",
    }
    for name in (
        "active_span_hours",
        "burst_score",
        "gap_cv",
        "hour_entropy",
        "template_rate",
    ):
        values = signals.values[name][members]
        defined = values[~np.isnan(values)]
        median = float(np.median(defined)) if defined.size else None
        baseline = signals.baselines[name]
        shown: Callable[[float | None], str] = {
            "active_span_hours": S.duration,
            "template_rate": S.percent,
        }.get(name, lambda v: "n/a" if v is None else f"{v:.2f}")
        result[name] = {
            "value": S.number(median),
            "baseline": S.number(baseline),
            "explanation": f"{name.replace('_', ' ').capitalize()}: median member "
            f"{shown(median)}, median account {S.baseline_text(name, baseline)}.",
        }
    for name, what in S.HARVESTING.items():
        hits = signals.hits[name]
        inside = float(hits[members].sum())
        rest_trials = float(counts.sum()) - total
        rest = (float(hits.sum()) - inside) / rest_trials if rest_trials else None
        p = float(
            S.two_proportion_p(
                np.array([inside]),
                np.array([total]),
                float(hits.sum()),
                float(counts.sum()),
            )[0]
        )
        rate = inside / total if total else None
        if name == "max_tokens_rate" and signals.max_tokens_threshold is None:
            rate, text = None, "No request sets max_tokens."
        else:
            verb = what.format(threshold=f"{signals.max_tokens_threshold or 0:,.0f}")
            test = "" if math.isnan(p) else f" ({S.p_text(p)})"
            text = (
                f"{S.percent(rate)} of the cluster's requests {verb}, against "
                f"{S.percent(rest)} for the rest of the population{test}."
            )
        result[name] = {
            "value": S.number(rate),
            "baseline": S.number(signals.baselines[name]),
            "explanation": text,
            "p_value": S.number(p),
        }
    inside, outside, sampled = sync
    result["synchrony"] = {
        "value": S.number(inside),
        "baseline": S.number(outside),
        "explanation": "Per-minute request counts of "
        f"{sampled} members correlate at {_corr(inside)} on average (Pearson), against "
        f"{_corr(outside)} for as many other accounts active in the same period.",
    }
    return result


def _corr(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def cluster_reasons(
    shared: dict[str, tuple[list[dict[str, Any]], int]],
    signals: dict[str, Any],
    size: int,
) -> list[str]:
    """What the members share, the kinds that link most first, then timing and
    harvesting where the cluster stands out."""
    strength = {
        kind: sum(e["weight"] * e["accounts"] for e in entries)
        for kind, (entries, _) in shared.items()
    }
    reasons = [
        _kind_reason(kind, entries, covered, size)
        for kind, (entries, covered) in sorted(
            shared.items(), key=lambda item: -strength[item[0]]
        )
    ]
    sync = signals["synchrony"]
    if sync["value"] is not None and sync["value"] > (sync["baseline"] or 0) + 0.05:
        reasons.append(sync["explanation"])
    for name in S.HARVESTING:
        entry = signals[name]
        if entry["value"] is not None and (entry["p_value"] or 1) <= 0.001:
            reasons.append(entry["explanation"])
    return reasons
