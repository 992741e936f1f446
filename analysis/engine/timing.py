"""Timing features from the request times, which arrive grouped by account and sorted
by time within each account, so every feature is a run-length or a bincount over one
int64 array (no sort, no loop over rows)."""

from dataclasses import dataclass

import numpy as np
from scipy import sparse

HOUR = 3_600_000_000  # microseconds
MINUTE = 60_000_000
SECOND = 1_000_000
MAD_SCALE = 1.4826  # makes the MAD estimate a normal distribution's standard deviation
MEAN_AD_SCALE = (
    1.2533  # the same for the mean absolute deviation (the MAD = 0 fallback)
)


@dataclass
class Timing:
    first: np.ndarray  # microseconds since 1970
    last: np.ndarray
    span_hours: np.ndarray
    peak_hour: np.ndarray  # requests in the account's busiest clock hour
    burst: np.ndarray  # robust z-score of that peak among all active account-hours
    hourly_median: float
    hourly_scale: float
    gaps: np.ndarray  # number of gaps between consecutive requests
    gap_cv: np.ndarray  # NaN where there are too few gaps or all are zero
    hour_entropy: np.ndarray  # bits, of the hour-of-day distribution
    hours_of_day: np.ndarray  # distinct hours of the day the account was active in


def starts_of(counts: np.ndarray) -> np.ndarray:
    return np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)


def robust_scale(values: np.ndarray) -> tuple[float, float]:
    """(median, scale): 1.4826 x MAD, or 1.2533 x mean absolute deviation when more
    than half the values are equal (MAD 0); scale 0 when all are equal."""
    if values.size == 0:
        return 0.0, 0.0
    median = float(np.median(values))
    deviation = np.abs(values - median)
    scale = MAD_SCALE * float(np.median(deviation))
    if scale == 0:
        scale = MEAN_AD_SCALE * float(deviation.mean())
    return median, scale


def burst_scores(
    cells: np.ndarray, peaks: np.ndarray
) -> tuple[np.ndarray, float, float]:
    """(peak - median) / scale, the median and scale taken over every hourly count of
    every account (`cells`); all zero when the counts do not vary at all."""
    median, scale = robust_scale(cells.astype(np.float64))
    if scale == 0:
        return np.zeros(peaks.size), median, scale
    return (peaks - median) / scale, median, scale


def gap_variation(
    times: np.ndarray, account: np.ndarray, counts: np.ndarray, min_gaps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per account: the number of gaps and their coefficient of variation (standard
    deviation over mean, population form), computed in two passes so that perfectly
    regular gaps give exactly 0."""
    size = counts.size
    same = account[1:] == account[:-1]
    gaps = (np.diff(times)[same] / SECOND).astype(np.float64)
    owner = account[:-1][same]
    n = np.bincount(owner, minlength=size).astype(np.float64)
    total = np.bincount(owner, weights=gaps, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n
        spread = np.bincount(owner, weights=(gaps - mean[owner]) ** 2, minlength=size)
        cv = np.sqrt(spread / n) / mean
    cv[(n < min_gaps) | ~(mean > 0)] = np.nan
    return n.astype(np.int64), cv


def hour_of_day_entropy(
    hours: np.ndarray, account: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Shannon entropy (bits) of each account's requests over the 24 UTC hours of the
    day; log2(24) = 4.58 means evenly spread, i.e. no sleep."""
    table = np.bincount(account * 24 + hours % 24, minlength=size * 24).reshape(
        size, 24
    )
    totals = table.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = table / totals
        terms = np.where(table > 0, -share * np.log2(np.where(table > 0, share, 1)), 0)
    return terms.sum(axis=1), (table > 0).sum(axis=1)


def timing(counts: np.ndarray, times: np.ndarray, min_gaps: int) -> Timing:
    size = counts.size
    starts = starts_of(counts)
    account = np.repeat(np.arange(size, dtype=np.int64), counts)
    first = times[starts]
    last = times[starts + counts - 1]
    hours = np.floor_divide(times, HOUR)
    # Runs of one account in one clock hour: times are sorted within each account.
    change = np.flatnonzero((account[1:] != account[:-1]) | (hours[1:] != hours[:-1]))
    run_starts = np.concatenate(([0], change + 1))
    run_lengths = np.diff(np.concatenate((run_starts, [times.size])))
    peak = np.zeros(size, dtype=np.int64)
    np.maximum.at(peak, account[run_starts], run_lengths)
    burst, median, scale = burst_scores(run_lengths, peak)
    gaps, cv = gap_variation(times, account, counts, min_gaps)
    entropy, hours_of_day = hour_of_day_entropy(hours, account, size)
    return Timing(
        first=first,
        last=last,
        span_hours=(last - first) / HOUR,
        peak_hour=peak,
        burst=burst,
        hourly_median=median,
        hourly_scale=scale,
        gaps=gaps,
        gap_cv=cv,
        hour_entropy=entropy,
        hours_of_day=hours_of_day,
    )


def minute_counts(
    times: np.ndarray, starts: np.ndarray, counts: np.ndarray, members: np.ndarray
) -> sparse.csr_matrix:
    """Requests per minute, one row per member, over the members' common window."""
    pieces = [times[starts[m] : starts[m] + counts[m]] for m in members]
    rows = np.repeat(np.arange(len(members)), counts[members])
    minutes = np.floor_divide(np.concatenate(pieces), MINUTE)
    minutes -= minutes.min()
    shape = (len(members), int(minutes.max()) + 1)
    ones = np.ones(minutes.size, dtype=np.float64)
    return sparse.csr_matrix((ones, (rows, minutes)), shape=shape)  # sums duplicates


def mean_correlation(matrix: sparse.csr_matrix) -> float | None:
    """Mean pairwise Pearson correlation of the rows (accounts with constant counts
    left out); None when fewer than two rows vary."""
    width = matrix.shape[1]
    if matrix.shape[0] < 2 or width < 2:
        return None
    mean = np.asarray(matrix.sum(axis=1)).ravel() / width
    gram = (matrix @ matrix.T).toarray() / width
    covariance = gram - np.outer(mean, mean)
    variance = np.diag(covariance).copy()
    varies = variance > 1e-12
    if varies.sum() < 2:
        return None
    covariance = covariance[np.ix_(varies, varies)]
    deviation = np.sqrt(variance[varies])
    correlation = covariance / np.outer(deviation, deviation)
    upper = np.triu_indices(correlation.shape[0], k=1)
    return float(np.clip(correlation[upper], -1, 1).mean())
