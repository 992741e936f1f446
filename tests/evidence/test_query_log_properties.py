"""Properties of the query-log parsers: whatever the bytes, the answer is rows or line
errors, never an exception (which the API would turn into a 500)."""

import csv
import io
import json
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evidence.querylog_parsing import (
    EARLIEST,
    LATEST,
    LineError,
    Row,
    parse_csv,
    parse_ndjson,
)

BOUNDED = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
MAX_LINE = 4096

json_leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
json_values = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
timestamps = st.one_of(
    st.text(max_size=40),
    st.datetimes(timezones=st.timezones()).map(lambda moment: moment.isoformat()),
    st.datetimes().map(lambda moment: moment.isoformat() + "Z"),
    st.sampled_from(
        [
            "2026-02-30T10:00:00Z",
            "2026-01-01T25:00:00Z",
            "9999-12-31T23:59:59Z",
            "9999-12-31T23:59:59-01:00",
            "0001-01-01T00:00:00+01:00",
            "2000-01-01T00:00:00Z",
            "2099-12-31T23:59:59.999999Z",
            "2026-01-01T00:00:00+24:00",
            "",
        ]
    ),
)
fields = st.sampled_from(
    [
        "timestamp",
        "account_id",
        "request_id",
        "ip",
        "model",
        "prompt",
        "prompt_sha256",
        "prompt_tokens",
        "completion_tokens",
        "params",
        "extra",
        "custom",
    ]
)
near_valid_records = st.fixed_dictionaries(
    {"timestamp": timestamps, "account_id": st.text(max_size=10) | json_values},
    optional={
        "ip": st.sampled_from(["203.0.113.7", "fe80::1%eth0", "::1", "300.1.1.1"])
        | st.text(max_size=20),
        "prompt_tokens": st.integers() | json_values,
        "prompt_sha256": st.text("0123456789abcdefABCDEFg", min_size=63, max_size=65),
        "params": json_values,
        "extra": json_values,
        "custom": json_values,
    },
)


def only_rows_or_line_errors(items) -> list:
    items = list(items)
    assert all(isinstance(item, Row | LineError) for item in items)
    return items


def ndjson_of(records: list) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


@BOUNDED
@given(st.binary(max_size=2000))
def test_any_bytes_given_to_the_ndjson_parser_give_rows_or_line_errors(body):
    only_rows_or_line_errors(parse_ndjson(io.BytesIO(body), MAX_LINE))


@BOUNDED
@given(st.binary(max_size=2000))
def test_any_bytes_given_to_the_csv_parser_give_rows_or_line_errors(body):
    only_rows_or_line_errors(parse_csv(io.BytesIO(body), MAX_LINE))


@BOUNDED
@given(st.binary(max_size=1000))
def test_any_bytes_after_a_valid_csv_header_give_rows_or_line_errors(tail):
    body = b"timestamp,account_id,ip,prompt_tokens,params,extra\n" + tail
    only_rows_or_line_errors(parse_csv(io.BytesIO(body), MAX_LINE))


@BOUNDED
@given(st.lists(near_valid_records | json_values, max_size=5))
def test_near_valid_ndjson_gives_rows_or_line_errors(records):
    only_rows_or_line_errors(parse_ndjson(io.BytesIO(ndjson_of(records)), MAX_LINE))


@BOUNDED
@given(
    st.lists(fields, min_size=1, max_size=6, unique=True),
    st.lists(st.lists(st.text(max_size=30), max_size=7), max_size=5),
)
def test_near_valid_csv_gives_rows_or_line_errors(header, rows):
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["timestamp", "account_id", *header])
    writer.writerows(rows)
    body = text.getvalue().encode("utf-8", "surrogatepass")
    only_rows_or_line_errors(parse_csv(io.BytesIO(body), MAX_LINE))


@BOUNDED
@given(timestamps)
def test_any_timestamp_is_a_row_in_the_window_or_a_timestamp_error(moment):
    for parse, body in (
        (parse_ndjson, ndjson_of([{"timestamp": moment, "account_id": "a"}])),
        (parse_csv, _csv_line(moment)),
    ):
        items = only_rows_or_line_errors(parse(io.BytesIO(body), MAX_LINE))
        for item in items:
            if isinstance(item, Row):
                stored = item.values[0]
                assert stored.tzinfo == UTC
                assert EARLIEST <= stored < LATEST
            else:
                assert item.field in ("timestamp", None)


def _csv_line(moment: str) -> bytes:
    text = io.StringIO()
    csv.writer(text).writerows([["timestamp", "account_id"], [moment, "a"]])
    return text.getvalue().encode("utf-8", "surrogatepass")


@BOUNDED
@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)))
def test_every_time_in_the_window_is_accepted(moment):
    stamp = moment.replace(tzinfo=UTC).isoformat()
    (item,) = parse_ndjson(
        io.BytesIO(ndjson_of([{"timestamp": stamp, "account_id": "a"}])), MAX_LINE
    )
    assert isinstance(item, Row)
    assert item.values[0] == moment.replace(tzinfo=UTC)
