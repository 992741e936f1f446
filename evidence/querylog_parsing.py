"""Reading detector query logs (NDJSON or CSV, optionally gzip) one record at a time,
validating each and giving it a canonical form whose SHA-256 identifies the row.

Pure functions over byte streams: no database, so the same code serves the API, the
tests and the benchmark.
"""

import csv
import functools
import gzip
import hashlib
import io
import ipaddress
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO

import orjson

REQUIRED = ("timestamp", "account_id")
STRINGS = {
    "account_id": 256,
    "request_id": 256,
    "org_id": 256,
    "api_key_fp": 256,
    "user_agent": 1024,
    "model": 200,
    "prompt": None,
    "response": None,
}
HASHES = ("prompt_sha256", "response_sha256")
COUNTS = ("prompt_tokens", "completion_tokens")
OBJECTS = ("params", "extra")
KNOWN = {"timestamp", "ip", *STRINGS, *HASHES, *COUNTS, *OBJECTS}
# Column order of a stored row after (batch, incident, line, row_sha256).
ROW_COLUMNS = (
    "timestamp",
    "account_id",
    "request_id",
    "org_id",
    "api_key_fp",
    "ip",
    "user_agent",
    "model",
    "prompt",
    "prompt_sha256",
    "response",
    "response_sha256",
    "prompt_tokens",
    "completion_tokens",
    "params",
    "extra",
)
MAX_COUNT = 2**31 - 1
# Deepest nesting of objects and arrays inside one record. orjson writes at most 254
# levels, and no detector's request parameters come near a hundred.
MAX_DEPTH = 100
# Accepted times, UTC. A hosted model's query log cannot predate 2000 or be dated
# past 2100; keeping every stored time this far inside datetime's years 1..9999 means
# no bucket, span or display arithmetic (hours, days, time zones) can overflow later.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)  # exclusive
# What a stored row holds for a field the record left out.
_DEFAULTS = tuple(
    "" if name in STRINGS or name in HASHES else None for name in ROW_COLUMNS
)
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass
class LineError:
    line: int
    field: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "message": self.message}


class BodyError(Exception):
    """The body as a whole cannot be read (bad gzip, inflates past the limit)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.status = message, status


@dataclass
class Row:
    line: int
    sha256: str
    leaf: bytes  # RFC 6962 leaf hash of the canonical form
    values: tuple[Any, ...]  # in ROW_COLUMNS order


class _Invalid(Exception):
    def __init__(self, field: str | None, message: str) -> None:
        self.field, self.message = field, message


@functools.lru_cache(maxsize=16384)
def _canonical_ip(value: str) -> str:
    """Logs repeat a few thousand addresses; parsing each once saves ~10% of ingest."""
    return str(ipaddress.ip_address(value))


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise _Invalid("timestamp", "must be an RFC 3339 string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _Invalid("timestamp", f"'{value[:60]}' is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise _Invalid("timestamp", "needs a UTC offset (e.g. Z or +02:00)")
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        raise _Invalid("timestamp", "is outside the years 1 to 9999 in UTC") from None
    if not EARLIEST <= moment < LATEST:
        raise _Invalid(
            "timestamp",
            f"'{value[:60]}' is outside the accepted years 2000 to 2099 (UTC)",
        )
    return moment


def _check_depth(record: Any, text: bytes | str, field: str | None = None) -> None:
    """Refuse nesting deeper than MAX_DEPTH; the brackets in the text are counted
    first, so the usual shallow record is never walked."""
    if isinstance(text, str):
        brackets = text.count("{") + text.count("[")
    else:
        brackets = text.count(b"{") + text.count(b"[")
    if brackets > MAX_DEPTH and _too_deep(record):
        raise _Invalid(field, f"is nested deeper than {MAX_DEPTH} levels")


def _too_deep(value: Any) -> bool:
    """Nesting deeper than MAX_DEPTH, found without recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _reject_nul(value: Any, field: str | None) -> None:
    """PostgreSQL cannot store U+0000 in text or jsonb; name the field that has one."""
    if isinstance(value, str):
        if "\x00" in value:
            raise _Invalid(
                field, "contains a NUL character (\\u0000), which cannot be stored"
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            _reject_nul(key, field or key)
            _reject_nul(item, field or key)
    elif isinstance(value, list):
        for item in value:
            _reject_nul(item, field)


def normalise(record: Any) -> dict[str, Any]:
    """Validate one record; return it normalised, unknown fields moved under `extra`."""
    if not isinstance(record, dict):
        raise _Invalid(None, "each record must be a JSON object")
    out: dict[str, Any] = {}
    extra = record.get("extra", {})
    if not isinstance(extra, dict):
        raise _Invalid("extra", "must be an object")
    extra = dict(extra)
    for name, value in record.items():
        if name not in KNOWN:
            if name in extra:
                raise _Invalid(name, "appears both at the top level and in extra")
            extra[name] = value
    for name in REQUIRED:
        if record.get(name) in (None, ""):
            raise _Invalid(name, "is required")
    out["timestamp"] = _timestamp(record["timestamp"])
    for name, limit in STRINGS.items():
        value = record.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise _Invalid(name, "must be a string")
        if limit and len(value) > limit:
            raise _Invalid(name, f"is longer than {limit} characters")
        out[name] = value
    ip = record.get("ip")
    if ip is not None and ip != "":
        if not isinstance(ip, str):
            raise _Invalid("ip", "must be a string")
        if "%" in ip:  # fe80::1%eth0: a zone index names the logger's interface
            raise _Invalid(
                "ip",
                f"'{ip[:60]}' has a zone index (after '%'); send the address alone",
            )
        try:
            out["ip"] = _canonical_ip(ip)
        except ValueError:
            raise _Invalid("ip", f"'{ip[:60]}' is not a valid IP address") from None
    for name in HASHES:
        value = record.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str) or not _HEX64.match(value):
            raise _Invalid(name, "must be 64 hexadecimal characters (SHA-256)")
        out[name] = value.lower()
    for name in COUNTS:
        value = record.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise _Invalid(name, "must be an integer")
        if value < 0:
            raise _Invalid(name, "must not be negative")
        if value > MAX_COUNT:
            raise _Invalid(name, "is too large")
        out[name] = value
    params = record.get("params")
    if params is not None:
        if not isinstance(params, dict):
            raise _Invalid("params", "must be an object")
        out["params"] = params
    if extra:
        out["extra"] = extra
    return out


def canonical_row(normalised: dict[str, Any]) -> bytes:
    """The row form `row_sha256` hashes. orjson, not `config.canonical`: it is
    several times faster on the ingest path, and its bytes differ from json.dumps
    for some floats (``1e-7`` against ``1e-07``), so stored row hashes depend on it."""
    shown = dict(normalised)
    moment = normalised["timestamp"]
    shown["timestamp"] = (
        moment.isoformat(timespec="microseconds")[:-6] + "Z"  # same text, faster
        if moment.year >= 1000
        else moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    )
    return orjson.dumps(shown, option=orjson.OPT_SORT_KEYS)


def to_row(line: int, normalised: dict[str, Any]) -> Row:
    try:
        encoded = canonical_row(normalised)
    except orjson.JSONEncodeError as error:  # e.g. nested past orjson's own limit
        raise _Invalid(None, f"cannot be written in canonical form: {error}") from None
    values = tuple(map(normalised.get, ROW_COLUMNS, _DEFAULTS))
    return Row(
        line=line,
        sha256=hashlib.sha256(encoded).hexdigest(),
        leaf=hashlib.sha256(b"\x00" + encoded).digest(),
        values=values,
    )


class _LimitedInflate(io.RawIOBase):
    """Reads the decompressed stream and stops a gzip bomb: past `limit` bytes, or
    once it has inflated more than `max_ratio` times the compressed body (counted
    only past `ratio_floor` bytes, so a small body of repeated text passes)."""

    def __init__(
        self,
        source: BinaryIO | gzip.GzipFile,
        limit: int,
        *,
        compressed: int | None = None,
        max_ratio: int | None = None,
        ratio_floor: int = 0,
    ) -> None:
        self.source, self.limit, self.total = source, limit, 0
        self.ratio_limit = (
            max(ratio_floor, compressed * max_ratio)
            if compressed is not None and max_ratio
            else None
        )
        self.compressed, self.max_ratio = compressed, max_ratio

    def readable(self) -> bool:
        return True

    # io's readers hand readinto() a writable memoryview; typeshed declares the wider
    # Buffer protocol, which has neither len() nor slice assignment.
    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            data = self.source.read(len(buffer))
        except (OSError, EOFError, zlib.error) as error:
            raise BodyError(f"The body is not valid gzip: {error}") from None
        self.total += len(data)
        if self.total > self.limit:
            raise BodyError(
                f"The body inflates past the limit of {self.limit} bytes.", 413
            )
        if self.ratio_limit is not None and self.total > self.ratio_limit:
            raise BodyError(
                f"The body inflates more than {self.max_ratio} times its compressed "
                f"size of {self.compressed} bytes (inflate ratio limit "
                f"{self.max_ratio}:1); send it uncompressed or in smaller batches.",
                413,
            )
        buffer[: len(data)] = data
        return len(data)


def open_body(
    raw: BinaryIO,
    *,
    gzipped: bool,
    inflated_limit: int,
    compressed_size: int | None = None,
    max_ratio: int | None = None,
    ratio_floor: int = 0,
) -> BinaryIO:
    """The body as a stream of inflated bytes, within the limits. The ratio limit
    applies to a gzip body whose `compressed_size` is given."""
    source = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw
    limited = _LimitedInflate(
        source,
        inflated_limit,
        compressed=compressed_size if gzipped else None,
        max_ratio=max_ratio,
        ratio_floor=ratio_floor,
    )
    return io.BufferedReader(limited, 1024 * 1024)


def _too_many_lines(max_lines: int) -> BodyError:
    return BodyError(
        f"The body has more than {max_lines} lines (blank lines count); "
        "send it in smaller batches.",
        413,
    )


def parse_ndjson(
    body: BinaryIO, max_line: int, max_lines: int | None = None
) -> Iterator[Row | LineError]:
    """Rows and line errors; raises BodyError past `max_lines` lines."""
    for number, line in _lines(body, max_line, max_lines):
        if isinstance(line, LineError):
            yield line
            continue
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            yield LineError(number, None, f"not valid JSON: {error}")
            continue
        try:
            _check_depth(record, line)
            if b"\\u0000" in line:  # rare: only then walk the record
                _reject_nul(record, None)
            yield to_row(number, normalise(record))
        except _Invalid as error:
            yield LineError(number, error.field, error.message)


def _lines(
    body: BinaryIO, max_line: int, max_lines: int | None = None
) -> Iterator[tuple[int, bytes | LineError]]:
    number = 0
    while True:
        line = body.readline(max_line + 1)
        if not line:
            return
        number += 1
        if max_lines is not None and number > max_lines:
            raise _too_many_lines(max_lines)
        if len(line) > max_line and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):  # skip the rest without keeping it
                line = body.readline(1024 * 1024)
            yield (
                number,
                LineError(number, None, f"line is longer than {max_line} bytes"),
            )
            continue
        yield number, line


class _RecordTooLong(Exception):
    pass


class _CsvLines:
    """Physical lines for csv.reader, read as bytes and decoded one at a time, so a
    record (one or more lines, when a quoted value holds newlines) longer than
    `max_line` bytes is refused before it is decoded or kept whole in memory."""

    def __init__(self, body: BinaryIO, max_line: int, max_lines: int | None) -> None:
        self.body, self.max_line, self.max_lines = body, max_line, max_lines
        self.number = 0
        self.record_bytes = 0
        self.pending: list[str] = []

    def start_record(self) -> None:
        self.record_bytes = 0

    def __iter__(self) -> "_CsvLines":
        return self

    def __next__(self) -> str:
        if self.pending:
            return self.pending.pop(0)
        room = self.max_line + 1 - self.record_bytes  # + 1: the final newline
        line = self.body.readline(room + 1)
        if not line:
            raise StopIteration
        self.number += 1
        if self.max_lines is not None and self.number > self.max_lines:
            raise _too_many_lines(self.max_lines)
        self.record_bytes += len(line)
        if len(line) > room:
            raise _RecordTooLong
        text = line.decode("utf-8")
        if "\r" in text.rstrip("\r\n"):
            # A lone carriage return ends a line too (as in a text file opened with
            # newline=""); csv.reader wants each line on its own.
            self.pending = _LONE_CR.split(text)
            self.number += len(self.pending) - 1
            return self.pending.pop(0)
        return text


_LONE_CR = re.compile(r"(?<=\r)(?!\n)(?=.)", re.DOTALL)


def parse_csv(
    body: BinaryIO, max_line: int, max_lines: int | None = None
) -> Iterator[Row | LineError]:
    """Rows and line errors; raises BodyError past `max_lines` lines."""
    lines = _CsvLines(body, max_line, max_lines)
    csv.field_size_limit(max_line)
    reader = csv.reader(lines)
    too_long = f"record is longer than {max_line} bytes"
    try:
        header = next(reader, None)
    except _RecordTooLong:
        yield LineError(1, None, f"header {too_long}")
        return
    except (csv.Error, UnicodeDecodeError) as error:
        yield LineError(1, None, f"unreadable header: {error}")
        return
    if header is None:
        return
    header = [name.strip() for name in header]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        for name in missing:
            yield LineError(1, name, "required column is missing from the header")
        return
    if len(set(header)) != len(header):
        yield LineError(1, None, "the header names a column twice")
        return
    line = reader.line_num
    while True:
        start = line + 1
        lines.start_record()
        try:
            values = next(reader)
        except StopIteration:
            return
        except _RecordTooLong:
            # Where the next record starts is unknown (the rest may be inside
            # quotes), so reading stops here.
            yield LineError(start, None, too_long)
            return
        except (csv.Error, UnicodeDecodeError) as error:
            yield LineError(start, None, f"unreadable CSV: {error}")
            return
        line = reader.line_num
        if not values or values == [""]:
            continue
        if len(values) != len(header):
            yield LineError(
                start,
                None,
                f"has {len(values)} values but the header has {len(header)} columns",
            )
            continue
        try:
            record = _csv_record(header, values)
            if any("\\u0000" in value or "\x00" in value for value in values):
                _reject_nul(record, None)
            yield to_row(start, normalise(record))
        except _Invalid as error:
            yield LineError(start, error.field, error.message)


def _csv_record(header: list[str], values: list[str]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for name, value in zip(header, values, strict=True):
        if value == "":
            continue
        if name in COUNTS:
            try:
                record[name] = int(value)
            except ValueError:
                raise _Invalid(name, "must be an integer") from None
        elif name in OBJECTS:
            try:
                record[name] = orjson.loads(value)
            except orjson.JSONDecodeError:
                raise _Invalid(name, "must be a JSON object") from None
            _check_depth(record[name], value, name)
        else:
            record[name] = value
    return record
