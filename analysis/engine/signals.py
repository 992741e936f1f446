"""Per-account signals: a value, the population's baseline (the median account), and a
sentence a judge can read. Values are numpy arrays over all accounts; only the
sentences are made one account at a time, once the numbers are known."""

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from analysis.engine.load import Facts
from analysis.engine.templates import Templates
from analysis.engine.timing import Timing

SIGNALS = (
    "volume",
    "active_span_hours",
    "burst_score",
    "gap_cv",
    "hour_entropy",
    "template_rate",
    "temperature_zero_rate",
    "max_tokens_rate",
    "logprobs_rate",
    "multi_sample_rate",
)
HARVESTING = {
    "temperature_zero_rate": "use temperature 0",
    "max_tokens_rate": "ask for max_tokens of {threshold} or more",
    "logprobs_rate": "ask for log-probabilities",
    "multi_sample_rate": "ask for several completions (n > 1)",
}
MAX_ENTROPY = math.log2(24)


@dataclass
class Signals:
    values: dict[str, np.ndarray]  # float, NaN where undefined
    p_values: dict[str, np.ndarray]
    hits: dict[str, np.ndarray]  # harvesting requests per account
    baselines: dict[str, float | None]
    max_tokens_threshold: float | None
    timing: Timing
    found: Templates | None  # set by with_templates
    counts: np.ndarray


def two_proportion_p(
    hits: np.ndarray, trials: np.ndarray, total_hits: float, total_trials: float
) -> np.ndarray:
    """One-sided p-value that each group's rate exceeds the rest's (pooled z-test);
    1 where the pooled rate is 0 or 1 (nothing to tell apart), NaN with no rest."""
    hits, trials = hits.astype(np.float64), trials.astype(np.float64)
    rest_hits, rest_trials = total_hits - hits, total_trials - trials
    pooled = total_hits / total_trials if total_trials else 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        error = np.sqrt(pooled * (1 - pooled) * (1 / trials + 1 / rest_trials))
        z = (hits / trials - rest_hits / rest_trials) / error
        p = stats.norm.sf(z)
    p = np.where(error > 0, p, 1.0)
    return np.where(rest_trials > 0, p, np.nan)


def max_tokens_threshold(facts: Facts, parameters: dict[str, Any]) -> float | None:
    """The configured threshold, else the largest max_tokens at least two accounts
    ask for (one account's odd value does not set the bar), else the largest."""
    if parameters["max_tokens_threshold"] is not None:
        return float(parameters["max_tokens_threshold"])
    account, value, _ = facts.max_tokens
    known = ~np.isnan(value)
    if not known.any():
        return None
    levels, code = np.unique(value[known], return_inverse=True)
    pairs = np.unique(code * len(facts.accounts) + account[known])
    users = np.bincount(pairs // len(facts.accounts), minlength=levels.size)
    common = levels[users >= 2]
    return float(common.max() if common.size else levels.max())


def _median(values: np.ndarray) -> float | None:
    defined = values[~np.isnan(values)]
    return float(np.median(defined)) if defined.size else None


def compute(facts: Facts, timing: Timing, parameters: dict[str, Any]) -> Signals:
    """Every signal but template_rate (NaN until with_templates): they need the
    facets and the times only, so they are computed while the prompts are grouped."""
    counts = facts.counts
    threshold = max_tokens_threshold(facts, parameters)
    account, value, rows = facts.max_tokens
    at_max = np.zeros(counts.size, dtype=np.int64)
    if threshold is not None:
        big = ~np.isnan(value) & (value >= threshold)
        np.add.at(at_max, account[big], rows[big])
    hits = {
        "temperature_zero_rate": facts.harvest[:, 0],
        "max_tokens_rate": at_max,
        "logprobs_rate": facts.harvest[:, 1],
        "multi_sample_rate": facts.harvest[:, 2],
    }
    values = timing_values(counts, timing)
    values["template_rate"] = np.full(counts.size, np.nan)
    p_values = {}
    total = float(counts.sum())
    for name, hit in hits.items():
        values[name] = hit / counts
        p_values[name] = two_proportion_p(hit, counts, float(hit.sum()), total)
    if threshold is None:
        values["max_tokens_rate"] = np.full(counts.size, np.nan)
    return Signals(
        values=values,
        p_values=p_values,
        hits=hits,
        baselines={name: _median(values[name]) for name in SIGNALS},
        max_tokens_threshold=threshold,
        timing=timing,
        found=None,
        counts=counts,
    )


def with_templates(signals: Signals, found: Templates) -> None:
    """Add template_rate: the share of each account's distinct sampled prompts that
    another account sent too (NaN with none to compare)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(found.compared > 0, found.matched / found.compared, np.nan)
    signals.values["template_rate"] = rate
    signals.baselines["template_rate"] = _median(rate)
    signals.found = found


# --- sentences -----------------------------------------------------------------------


def number(value: float | None) -> float | None:
    """JSON-safe: None for NaN or infinity, else a float rounded for reading."""
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.6g}")


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def p_text(p: float) -> str:
    return "p < 1e-300" if p <= 0 else f"p = {p:.2g}"


_PERCENT = [f"{n}%" for n in range(101)]


def percent(share: float | None) -> str:
    if share is None or share != share or share in (math.inf, -math.inf):
        return "n/a"
    if 0.01 <= share <= 1 or share == 0:
        return _PERCENT[round(share * 100)]  # f"{share:.0%}", faster
    return f"{share:.1%}" if share < 0.01 else f"{share:.0%}"


def duration(hours: float | None) -> str:
    if hours is None or not math.isfinite(hours):
        return "n/a"
    if hours >= 48:
        return f"{hours / 24:.1f} days"
    return f"{hours:.1f} hours"


def baseline_text(name: str, baseline: float | None) -> str:
    """How the median account's value of signal `name` reads in an explanation."""
    if baseline is None:
        return "no account has one"
    if name == "volume":
        return f"{baseline:,.0f}"
    if name == "active_span_hours":
        return duration(baseline)
    if name in ("template_rate", *HARVESTING):
        return percent(baseline)
    return f"{baseline:.2f}"


def _values(array: np.ndarray, rounded: bool = True) -> list[Any]:
    """JSON-safe numbers: NaN and infinities become None; rounded for reading, except
    p-values (1e-40 must stay 1e-40)."""
    array = array.astype(np.float64)
    if rounded:
        array = np.round(array, 6)
    values = array.astype(object)
    values[~np.isfinite(array)] = None
    listed: list[Any] = values.tolist()
    return listed


def percents(shares: np.ndarray) -> list[str]:
    """percent() of every share: the usual whole percentages looked up at once (numpy
    rounds half to even, as round() does), the rest one by one."""
    shares = shares.astype(np.float64)
    with np.errstate(invalid="ignore"):
        usual = ((shares >= 0.01) & (shares <= 1)) | (shares == 0)
        whole = np.where(usual, np.round(shares * 100), 0).astype(np.int64)
    return [
        _PERCENT[w] if u else percent(x)
        for u, w, x in zip(usual.tolist(), whole.tolist(), shares.tolist(), strict=True)
    ]


def timing_values(counts: np.ndarray, timing: Timing) -> dict[str, np.ndarray]:
    return {
        "volume": counts.astype(np.float64),
        "active_span_hours": timing.span_hours.astype(np.float64),
        "burst_score": timing.burst.astype(np.float64),
        "gap_cv": timing.gap_cv,
        "hour_entropy": timing.hour_entropy,
    }


TIMING_SIGNALS = (
    "volume",
    "active_span_hours",
    "burst_score",
    "gap_cv",
    "hour_entropy",
)


def _timing_text(
    v: dict[str, list[Any]], typical: dict[str, str], timing: Timing
) -> dict[str, list[str]]:
    peaks, gaps, hours = (
        timing.peak_hour.tolist(),
        timing.gaps.tolist(),
        timing.hours_of_day.tolist(),
    )
    return {
        "volume": [
            f"Sent {plural(int(x), 'request')}; the median account sent {typical['volume']}."
            for x in v["volume"]
        ],
        "active_span_hours": [
            f"Active for {duration(x)} from first to last request; median account "
            f"{typical['active_span_hours']}."
            for x in v["active_span_hours"]
        ],
        "burst_score": [
            f"Its busiest clock hour had {plural(p, 'request')}, {x:.1f} robust standard "
            f"deviations (1.4826 x MAD) from the typical hourly count of "
            f"{timing.hourly_median:g}; median account {typical['burst_score']}."
            for x, p in zip(v["burst_score"], peaks, strict=True)
        ],
        "gap_cv": [
            f"Too few gaps between requests ({g}) to judge how regular they are."
            if x != x
            else f"The gaps between its requests vary by {x:.2f} of their mean (scripts "
            f"sit far below 1, people above it); median account {typical['gap_cv']}."
            for x, g in zip(v["gap_cv"], gaps, strict=True)
        ],
        "hour_entropy": [
            f"Active in {h} of the 24 hours of the day: entropy {x:.2f} bits of at most "
            f"{MAX_ENTROPY:.2f} (no sleep); median account {typical['hour_entropy']}."
            for x, h in zip(v["hour_entropy"], hours, strict=True)
        ],
    }


def _template_text(signals: Signals, parameters: dict[str, Any]) -> list[str]:
    found = signals.found
    assert found is not None  # set by with_templates() before any text
    words, jaccard = parameters["shingle_words"], parameters["template_jaccard"]
    typical = baseline_text("template_rate", signals.baselines["template_rate"])
    return [
        f"{m} of {c} sampled prompts ({x}) nearly duplicate another "
        f"account's (word {words}-gram Jaccard >= {jaccard:g}); median account "
        f"{typical}."
        if c
        else f"No sampled prompt long enough to compare ({words} words or a hash)."
        for x, c, m in zip(
            percents(signals.values["template_rate"]),
            found.compared.tolist(),
            found.matched.tolist(),
            strict=True,
        )
    ]


def _harvesting_text(signals: Signals) -> dict[str, list[str]]:
    counts = signals.counts
    text = {}
    for name in HARVESTING:
        if name == "max_tokens_rate" and signals.max_tokens_threshold is None:
            text[name] = ["No request sets max_tokens."] * counts.size
            continue
        hits = signals.hits[name]
        with np.errstate(invalid="ignore", divide="ignore"):
            rest = (hits.sum() - hits) / (counts.sum() - counts)
        what = HARVESTING[name].format(
            threshold=f"{signals.max_tokens_threshold or 0:,.0f}"
        )
        against = f" of its requests {what}, against "
        text[name] = [
            f"{x}{against}{r} for the rest of the population"
            + ("." if p != p else f" (one-sided two-proportion test, {p_text(p)}).")
            for x, r, p in zip(
                percents(signals.values[name]),
                percents(rest),
                signals.p_values[name].tolist(),
                strict=True,
            )
        ]
    return text


def timing_signals(counts: np.ndarray, timing: Timing) -> list[dict[str, Any]]:
    """Every account's timing signals, in the accounts' order: they need only the
    request times, so they are written while the database still reads the rest
    (harvesting_signals and template_signals add the others to the same dicts)."""
    values = timing_values(counts, timing)
    v = {name: values[name].tolist() for name in TIMING_SIGNALS}
    typical = {name: baseline_text(name, _median(values[name])) for name in v}
    text = _timing_text(v, typical, timing)
    result: list[dict[str, Any]] = [{} for _ in range(counts.size)]
    for name in TIMING_SIGNALS:
        _fill(result, name, _median(values[name]), values[name], text[name])
    return result


def _fill(
    result: list[dict[str, Any]],
    name: str,
    baseline: float | None,
    values: np.ndarray,
    sentences: list[str],
    p_values: np.ndarray | None = None,
) -> None:
    baseline = number(baseline)
    if p_values is None:
        for entry, value, sentence in zip(
            result, _values(values), sentences, strict=True
        ):
            entry[name] = {
                "value": value,
                "baseline": baseline,
                "explanation": sentence,
            }
    else:
        for entry, value, sentence, p in zip(
            result, _values(values), sentences, _values(p_values, False), strict=True
        ):
            entry[name] = {
                "value": value,
                "baseline": baseline,
                "explanation": sentence,
                "p_value": p,
            }


def harvesting_signals(signals: Signals, result: list[dict[str, Any]]) -> None:
    """Add the harvesting signals to `result` (from timing_signals), after a place
    for template_rate (see template_signals), so every account lists its signals in
    SIGNALS' order."""
    for entry in result:
        entry["template_rate"] = None
    text = _harvesting_text(signals)
    for name in HARVESTING:
        _fill(
            result,
            name,
            signals.baselines[name],
            signals.values[name],
            text[name],
            signals.p_values[name],
        )


def template_signals(
    signals: Signals, parameters: dict[str, Any], result: list[dict[str, Any]]
) -> None:
    """Fill template_rate in `result` (after with_templates)."""
    _fill(
        result,
        "template_rate",
        signals.baselines["template_rate"],
        signals.values["template_rate"],
        _template_text(signals, parameters),
    )
