"""The attribute combinations' rows (see load.py) as numpy columns: each text column
factorised (a code per row, the distinct values sorted), max_tokens as floats, the
counts as one int64 array. Pure Python and numpy, so that it runs on the thread that
fetched the rows, beside the numpy work of the main one."""

import math
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

# Combination columns, in order, after the account.
ATTRIBUTES = ("ip", "api_key_fp", "org_id", "user_agent", "payment_fp")


@dataclass
class Combinations:
    accounts: tuple  # account_id of each combination
    attributes: dict[str, tuple[np.ndarray, list[str]]]  # kind -> factorised
    max_tokens: np.ndarray  # float, NaN where not a number
    tallies: np.ndarray  # (4, combinations): rows, temperature 0, logprobs, n > 1
    hashed: tuple[np.ndarray, list[str]]  # prompt hash of rows without text


def factorise(values) -> tuple[np.ndarray, list[str]]:
    """(code of each value, the distinct values as text, sorted; None is ''): only the
    distinct values are made text and sorted, and the per-value passes run in C
    (dict.fromkeys, map)."""
    distinct = list(dict.fromkeys(values))
    text = [str(v or "") for v in distinct]
    names = sorted(set(text))
    position = {name: i for i, name in enumerate(names)}
    code = {v: position[t] for v, t in zip(distinct, text, strict=True)}
    return np.fromiter(map(code.__getitem__, values), np.int64, len(values)), names


def numeric(value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return math.nan
    number = float(value)
    return number if math.isfinite(number) else math.nan


def combination_columns(rows: list[tuple]) -> Combinations:
    """Rows of (account, the ATTRIBUTES, max_tokens, prompt hash, four counts)."""
    count = len(rows)
    columns = list(zip(*rows, strict=True)) or [()] * 12
    # max_tokens takes few values: each converted once.
    number = {v: numeric(v) for v in dict.fromkeys(columns[6])}
    return Combinations(
        accounts=columns[0],
        attributes={
            kind: factorise(columns[position])
            for position, kind in enumerate(ATTRIBUTES, start=1)
        },
        max_tokens=np.fromiter(map(number.__getitem__, columns[6]), np.float64, count),
        tallies=np.array(columns[8:12], dtype=np.int64).reshape(4, count),
        hashed=factorise(columns[7]),
    )
