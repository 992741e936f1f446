"""What the facets say of each account (see load.py) as numpy columns: for each
linking attribute and for the prompt hashes, the (account, value) pairs with the
value factorised (a code per pair, the distinct values sorted); max_tokens levels
and harvesting counts per account. Pure Python and numpy, so that it runs on the
thread that fetched the rows, beside the numpy work of the main one."""

from dataclasses import dataclass

import numpy as np

# Linking attributes whose values the facets keep.
ATTRIBUTES = ("ip", "api_key_fp", "org_id", "user_agent", "payment_fp")

Pairs = tuple[tuple[str, ...], np.ndarray, list[str]]  # accounts, code, values


@dataclass
class Combinations:
    attributes: dict[str, Pairs]  # kind -> the accounts holding each value
    hashed: Pairs  # prompt hashes of rows logged without text
    max_tokens: tuple[tuple[str, ...], np.ndarray, np.ndarray]  # account, value, rows
    # Accounts with harvesting requests, and their counts (3, accounts): temperature
    # 0, logprobs, n > 1.
    harvest: tuple[tuple[str, ...], np.ndarray]


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


def pairs(rows: list[tuple]) -> Pairs:
    """Rows of (account, value)."""
    accounts, values = list(zip(*rows, strict=True)) or [(), ()]
    code, names = factorise(values)
    return accounts, code, names


def combination_columns(read: dict[str, list[tuple]]) -> Combinations:
    """`read`: each attribute's and "hashed" (account, value) rows, "max_tokens"
    (account, value, rows) and "harvest" (account, three counts) rows."""
    tokens = list(zip(*read["max_tokens"], strict=True)) or [(), (), ()]
    harvest = list(zip(*read["harvest"], strict=True)) or [(), (), (), ()]
    return Combinations(
        attributes={kind: pairs(read[kind]) for kind in ATTRIBUTES},
        hashed=pairs(read["hashed"]),
        max_tokens=(
            tokens[0],
            np.array(tokens[1], dtype=np.float64),
            np.array(tokens[2], dtype=np.int64),
        ),
        harvest=(
            harvest[0],
            np.array(harvest[1:], dtype=np.int64).reshape(3, len(harvest[0])),
        ),
    )
