"""What the facets say of each account (see load.py) as numpy columns: for each
linking attribute and for the prompt hashes, the (account, value) pairs with the
value factorised (a code per pair, the distinct values sorted); max_tokens levels
and harvesting counts per account. Pure Python and numpy, so that it runs on the
thread that fetched the rows, beside the numpy work of the main one."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# Linking attributes whose values the facets keep.
ATTRIBUTES = ("ip", "api_key_fp", "org_id", "user_agent", "payment_fp")

Pairs = tuple[np.ndarray, np.ndarray, list[str]]  # account, code, values


@dataclass
class Combinations:
    """Accounts are positions in the analysis's account list."""

    attributes: dict[str, Pairs]  # kind -> the accounts holding each value
    hashed: Pairs  # prompt hashes of rows logged without text
    max_tokens: tuple[np.ndarray, np.ndarray, np.ndarray]  # account, value, rows
    # Harvesting requests per account (accounts, 3): temperature 0, logprobs, n > 1.
    harvest: np.ndarray


def factorise(values: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """(code of each value, the distinct values sorted): the per-value passes run in
    C (set, dict(zip), map)."""
    names = sorted(set(values))
    position = dict(zip(names, range(len(names)), strict=True))
    return np.fromiter(map(position.__getitem__, values), np.int64, len(values)), names


def positions(accounts: Sequence[str], index: dict[str, int]) -> np.ndarray:
    return np.fromiter(map(index.__getitem__, accounts), np.int64, len(accounts))


def pairs(rows: list[tuple[Any, ...]], index: dict[str, int]) -> Pairs:
    """Rows of (account, value)."""
    accounts, values = list(zip(*rows, strict=True)) or [(), ()]
    code, names = factorise(values)
    return positions(accounts, index), code, names


def combination_columns(
    read: dict[str, list[tuple[Any, ...]]], accounts: list[str]
) -> Combinations:
    """`read`: each attribute's and "hashed" (account, value) rows, "max_tokens"
    (account, value, rows) and "harvest" (account, three counts) rows; `accounts`:
    the analysis's accounts, in its order."""
    index = dict(zip(accounts, range(len(accounts)), strict=True))
    tokens = list(zip(*read["max_tokens"], strict=True)) or [(), (), ()]
    harvested = list(zip(*read["harvest"], strict=True)) or [(), (), (), ()]
    harvest = np.zeros((len(accounts), 3), dtype=np.int64)
    harvest[positions(harvested[0], index)] = (
        np.array(harvested[1:], dtype=np.int64).reshape(3, len(harvested[0])).T
    )
    return Combinations(
        attributes={kind: pairs(read[kind], index) for kind in ATTRIBUTES},
        hashed=pairs(read["hashed"], index),
        max_tokens=(
            positions(tokens[0], index),
            np.array(tokens[1], dtype=np.float64),
            np.array(tokens[2], dtype=np.int64),
        ),
        harvest=harvest,
    )
