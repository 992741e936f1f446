"""The bytes Casebook hashes: one canonical JSON, one RFC 3339 form, both pinned."""

import importlib.util
import math
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from config.canonical import canonical_json
from config.rfc3339 import format_utc, parse

# tools/ is not a package: the verifier is loaded by path, as an outside expert would.
_spec = importlib.util.spec_from_file_location(
    "casebook_tools_verify_canonical",
    Path(__file__).resolve().parent.parent / "tools" / "verify.py",
)
verify = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(verify)


def test_canonical_json_sorts_keys_keeps_utf8_and_drops_whitespace():
    assert canonical_json({"b": [1, 2.5], "a": "é ✓"}) == (
        '{"a":"é ✓","b":[1,2.5]}'.encode()
    )


def test_canonical_json_refuses_nan_unless_the_caller_always_wrote_it():
    with pytest.raises(ValueError):
        canonical_json({"x": math.nan})
    # the ledger's and forensic submissions' bytes, as stored so far
    assert canonical_json({"x": math.inf}, allow_nan=True) == b'{"x":Infinity}'


def test_the_independent_verifier_hashes_the_same_bytes():
    event = {"v": 1, "actor": "zoë", "details": {"n": 0.1, "ok": True}, "seq": 7}
    assert verify.canonical_json(event) == canonical_json(event, allow_nan=True)


def test_format_utc_writes_what_parse_reads():
    moment = datetime(2026, 3, 1, 13, 0, 5, 42, tzinfo=timezone(timedelta(hours=1)))
    text = format_utc(moment)
    assert text == "2026-03-01T12:00:05.000042Z"
    assert parse(text) == moment.astimezone(UTC)
