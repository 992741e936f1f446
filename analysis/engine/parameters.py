"""Every tunable of the analysis, its default, and the check of what a caller sends.

The defaults are recorded with every analysis (so it can be re-run) and are meant to
be explainable: a link between two accounts needs shared values so rare that a random
account would share them all with fewer than `chance_partners` (0.1) accounts.
"""

import math
import re
from typing import Any

from config.errors import InvalidInput

# Bump when the same rows and parameters would give a different result.
CODE_VERSION = "casebook-linkage/1.1"

LINK_KINDS = (
    "ip",
    "ip_prefix",
    "api_key_fp",
    "org_id",
    "user_agent",
    "payment_fp",
    "prompt_template",
)

DEFAULT_PARAMETERS: dict[str, Any] = {
    # Edges: a pair's weight is the sum over shared values of ln(N / accounts sharing
    # it); null means ln(N) + ln(1 / chance_partners).
    "edge_threshold": None,
    "chance_partners": 0.1,
    "min_cluster_size": 3,
    # A value shared by more than this share of accounts (or more than max_group of
    # them) links nobody: a popular client says nothing, and k accounts make k^2 pairs.
    "max_share": 0.25,
    "max_group": 1000,
    "link_kinds": list(LINK_KINDS),
    "ipv4_prefix": 24,
    "ipv6_prefix": 48,
    "payment_key": "payment_fp",  # key in a row's `extra` holding a payment fingerprint
    # Near-duplicate prompts: Jaccard of word 5-gram sets, found by MinHash LSH and then
    # checked exactly; prompts are sampled (about prompt_sample per account) and cut.
    "template_jaccard": 0.8,
    "shingle_words": 5,
    "minhash_permutations": 32,
    "lsh_bands": 8,
    "prompt_sample": 8,
    "prompt_chars": 2000,
    # Rows logged with a hash but no text: shorter prompts (by prompt_tokens) are not
    # compared, as greetings and tests are shared by many honest users.
    "min_prompt_tokens": 8,
    # Harvesting: null means the largest max_tokens that at least two accounts ask for.
    "max_tokens_threshold": None,
    "min_gaps": 3,  # gaps between requests needed before their variation means anything
    "synchrony_sample": 100,  # members whose per-minute counts are correlated
    "max_edges": 2000,  # edges listed in the result (the strongest; all clusters drawn)
}

_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
# name -> (types, minimum, maximum); None bounds are open.
_NUMBERS: dict[
    str, tuple[tuple[type[int] | type[float], ...], float | None, float | None]
] = {
    "edge_threshold": ((int, float), 0.0, 1000.0),
    "chance_partners": ((int, float), 1e-12, 1000.0),
    "min_cluster_size": ((int,), 2, 1_000_000),
    # Bounded so that no request can make the pair products or the MinHash tables
    # outgrow a worker's memory: a value shared by k accounts makes k^2 pairs.
    "max_share": ((int, float), 1e-6, 0.5),
    "max_group": ((int,), 2, 2000),
    "ipv4_prefix": ((int,), 8, 32),
    "ipv6_prefix": ((int,), 16, 128),
    "template_jaccard": ((int, float), 0.05, 1.0),
    "shingle_words": ((int,), 1, 20),
    "minhash_permutations": ((int,), 4, 256),
    "lsh_bands": ((int,), 1, 256),
    "prompt_sample": ((int,), 1, 64),
    "prompt_chars": ((int,), 20, 10_000),
    "min_prompt_tokens": ((int,), 0, 100_000),
    "max_tokens_threshold": ((int, float), 1.0, 1e12),
    "min_gaps": ((int,), 1, 1000),
    "synchrony_sample": ((int,), 2, 2000),
    "max_edges": ((int,), 0, 1_000_000),
}
_NULLABLE = {"edge_threshold", "max_tokens_threshold"}


def _bad(key: str, message: str) -> InvalidInput:
    return InvalidInput.for_field(f"parameters.{key}", f"{key} {message}")


def analysis_parameters_clean(raw: dict[str, Any] | None) -> dict[str, Any]:
    """`raw` merged over DEFAULT_PARAMETERS; InvalidInput naming the first bad key."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidInput.for_field("parameters", "parameters must be an object")
    cleaned: dict[str, Any] = {
        key: list(value) if isinstance(value, list) else value
        for key, value in DEFAULT_PARAMETERS.items()
    }
    for key, value in raw.items():
        if key not in DEFAULT_PARAMETERS:
            raise _bad(str(key)[:100], "is not a parameter of this analysis")
        if key in _NUMBERS:
            cleaned[key] = _number(key, value)
        elif key == "link_kinds":
            cleaned[key] = _kinds(value)
        elif key == "payment_key":
            if not isinstance(value, str) or not _KEY.match(value):
                raise _bad(key, "must be 1 to 100 letters, digits, '_', '.' or '-'")
            cleaned[key] = value
    if cleaned["minhash_permutations"] % cleaned["lsh_bands"]:
        raise _bad("lsh_bands", "must divide minhash_permutations")
    return cleaned


def _number(key: str, value: Any) -> int | float | None:
    if value is None and key in _NULLABLE:
        return None
    types, low, high = _NUMBERS[key]
    if isinstance(value, bool) or not isinstance(value, types):
        kind = "an integer" if types == (int,) else "a number"
        raise _bad(key, f"must be {kind}")
    if isinstance(value, float) and not math.isfinite(value):
        raise _bad(key, "must be finite")
    if (low is not None and value < low) or (high is not None and value > high):
        raise _bad(key, f"must be between {low:g} and {high:g}")
    return value


def _kinds(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad("link_kinds", "must be a list of attribute kinds")
    unknown = sorted(set(value) - set(LINK_KINDS))
    if unknown:
        raise _bad(
            "link_kinds",
            f"has unknown kind(s) {', '.join(unknown)}; use {', '.join(LINK_KINDS)}",
        )
    return [kind for kind in LINK_KINDS if kind in value]
