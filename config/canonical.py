"""Canonical JSON: the exact bytes Casebook hashes and signs.

Custody events, forensic-result submissions and analysis documents (and the
parameters and results whose SHA-256 an analysis records) are hashed over these
bytes, and hashes already in the ledger and in analyses depend on them: keys sorted,
no whitespace, UTF-8 as is (never ``\\u`` escapes). `tools/verify.py` re-implements
the same on purpose, so it needs nothing from the server.

Query-log rows have a canonical form of their own, written with orjson for speed
(`evidence.querylog_parsing.canonical_row`); its bytes differ from these for some
values (``1e-7`` here is ``1e-07``), so the two are not interchangeable.
"""

import json
from typing import Any


def canonical_json(obj: Any, *, allow_nan: bool = False) -> bytes:
    """Sorted keys, no whitespace, UTF-8. NaN and infinities are not JSON and are
    refused (ValueError) unless `allow_nan`, which writes them as ``NaN`` and
    ``Infinity``: the custody ledger and forensic submissions have always done so,
    and their stored bytes must stay reproducible."""
    return json.dumps(
        obj,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=allow_nan,
    ).encode()
