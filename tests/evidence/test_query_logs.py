"""Query-log batches from detection tools (contract: "Query logs")."""

import gzip
import hashlib
import json
import threading

import pytest
from django.db import connection

from evidence import merkle
from evidence.models import CustodyEvent, Evidence, QueryLogBatch, QueryLogRow
from evidence.querylog_parsing import canonical_row, normalise
from tests.factories import UserFactory, make_incident, make_token


def record(i: int = 0, **overrides) -> dict:
    row = {
        "timestamp": f"2026-11-02T03:{i % 60:02d}:00Z",
        "account_id": f"acct_{i % 3}",
        "request_id": f"req_{i}",
        "ip": "203.0.113.7",
        "model": "atlas-2",
        "prompt": "Explain step by step how ...",
        "response": "First, ...",
        "prompt_tokens": 12,
        "completion_tokens": 400,
        "params": {"temperature": 0, "max_tokens": 4096},
    }
    row.update(overrides)
    return {k: v for k, v in row.items() if v is not None}


def ndjson(rows) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def post(client, incident, body: bytes, content_type="application/x-ndjson", **headers):
    return client.generic(
        "POST",
        f"/api/v1/incidents/{incident.reference}/query-logs/",
        body,
        content_type=content_type,
        **headers,
    )


def nothing_stored():
    return (
        QueryLogRow.objects.count(),
        Evidence.objects.count(),
        CustodyEvent.objects.count(),
        QueryLogBatch.objects.count(),
    ) == (0, 0, 0, 0)


@pytest.fixture
def tool(service_user, api):
    return api(service_user, "ingest")


def test_batch_is_stored_as_evidence_and_rows_trace_back_to_the_bytes(
    incident, tool, analyst, api
):
    # given
    body = gzip.compress(ndjson(record(i) for i in range(25)))
    # when
    response = post(tool, incident, body, HTTP_CONTENT_ENCODING="gzip")
    # then
    assert response.status_code == 201, response.content
    batch = response.json()
    assert batch["rows"] == 25
    assert batch["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert batch["evidence"]["sha256"] == batch["body_sha256"]
    assert batch["evidence"]["kind"] == "query_log"
    assert batch["received_at"].endswith("Z")
    received = CustodyEvent.objects.get(evidence_id=batch["evidence"]["id"])
    assert (received.action, received.details["rows"]) == ("received", 25)
    # the stored bytes are exactly what was sent (compressed), downloadable by a person
    download = api(analyst).get(batch["evidence"]["download_url"])
    assert b"".join(download.streaming_content) == body
    # every row: line number and canonical hash; the Merkle root over them is the batch's
    rows = list(QueryLogRow.objects.order_by("line"))
    assert [r.line for r in rows] == list(range(1, 26))
    for row, original in zip(rows, (record(i) for i in range(25)), strict=True):
        assert (
            row.row_sha256
            == hashlib.sha256(canonical_row(normalise(original))).hexdigest()
        )
    leaves = [merkle.leaf_hash(canonical_row(normalise(record(i)))) for i in range(25)]
    assert merkle.MerkleTree(leaves).root().hex() == batch["merkle_root"]


def test_unknown_fields_are_kept_under_extra(incident, tool):
    body = ndjson([record(0, payment_fp="pf_1", extra={"asn": 64511})])
    assert post(tool, incident, body).status_code == 201
    assert QueryLogRow.objects.get().extra == {"asn": 64511, "payment_fp": "pf_1"}


def test_csv_with_json_columns(incident, tool):
    body = (
        b"timestamp,account_id,ip,prompt_tokens,params,referrer\n"
        b'2026-11-02T03:14:00+01:00,acct_9,2001:DB8::1,7,"{""temperature"": 0}",x.example\n'
    )
    response = post(tool, incident, body, "text/csv")
    assert response.status_code == 201, response.content
    row = QueryLogRow.objects.get()
    assert (row.ip, row.prompt_tokens, row.params, row.extra) == (
        "2001:db8::1",
        7,
        {"temperature": 0},
        {"referrer": "x.example"},
    )
    assert row.line == 2
    assert row.timestamp.isoformat() == "2026-11-02T02:14:00+00:00"


@pytest.mark.parametrize(
    ("line", "field", "fragment"),
    [
        (b"{not json", None, "JSON"),
        (json.dumps(record(0, timestamp=None)).encode(), "timestamp", "required"),
        (json.dumps(record(0, account_id=None)).encode(), "account_id", "required"),
        (
            json.dumps(record(0, timestamp="yesterday")).encode(),
            "timestamp",
            "RFC 3339",
        ),
        (
            json.dumps(record(0, timestamp="2026-11-02T03:14:00")).encode(),
            "timestamp",
            "offset",
        ),
        (json.dumps(record(0, ip="300.1.2.3")).encode(), "ip", "IP"),
        (json.dumps(record(0, prompt_tokens=-1)).encode(), "prompt_tokens", "negative"),
        (
            json.dumps(record(0, completion_tokens="400")).encode(),
            "completion_tokens",
            "integer",
        ),
        (
            json.dumps(record(0, prompt_tokens=True)).encode(),
            "prompt_tokens",
            "integer",
        ),
        (json.dumps(record(0, params=[1])).encode(), "params", "object"),
        (json.dumps(record(0, account_id=7)).encode(), "account_id", "string"),
        (json.dumps(record(0, prompt_sha256="abc")).encode(), "prompt_sha256", "64"),
        (b"[1, 2]", None, "object"),
    ],
)
def test_one_bad_line_stores_nothing_and_is_named(
    line, field, fragment, incident, tool
):
    body = ndjson([record(0), record(1)]) + line + b"\n" + ndjson([record(3)])
    response = post(tool, incident, body)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors[0]["line"] == 3 and errors[0]["field"] == field
    assert fragment in errors[0]["message"]
    assert nothing_stored()


def test_at_most_100_errors_are_listed(incident, tool):
    response = post(tool, incident, b"nope\n" * 500)
    assert response.status_code == 400
    assert len(response.json()["errors"]) == 100
    assert nothing_stored()


def test_empty_body_is_refused(incident, tool):
    assert post(tool, incident, b"").status_code == 400
    assert nothing_stored()


def test_body_that_claims_gzip_but_is_not(incident, tool):
    response = post(tool, incident, ndjson([record(0)]), HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 400
    assert "gzip" in response.json()["detail"]
    assert nothing_stored()


def test_gzip_bomb_answers_413_and_keeps_nothing(incident, tool, settings):
    settings.QUERY_LOG_MAX_INFLATED_BYTES = 1024 * 1024
    bomb = gzip.compress(b"\n" * (20 * 1024 * 1024))
    assert len(bomb) < 100_000
    response = post(tool, incident, bomb, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413
    assert nothing_stored()


def test_body_over_the_limit_answers_413(incident, tool, settings):
    settings.QUERY_LOG_MAX_BODY_BYTES = 1000
    response = post(tool, incident, ndjson(record(i) for i in range(50)))
    assert response.status_code == 413
    assert nothing_stored()


def test_csv_missing_a_required_column(incident, tool):
    response = post(
        tool, incident, b"timestamp,ip\n2026-11-02T03:14:00Z,1.2.3.4\n", "text/csv"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "line": 1,
            "field": "account_id",
            "message": "required column is missing from the header",
        }
    ]
    assert nothing_stored()


def test_csv_row_with_an_extra_value(incident, tool):
    body = b"timestamp,account_id\n2026-11-02T03:14:00Z,a\n2026-11-02T03:15:00Z,b,surplus\n"
    response = post(tool, incident, body, "text/csv")
    assert response.status_code == 400
    assert response.json()["errors"][0]["line"] == 3
    assert nothing_stored()


def test_a_10_mb_single_line_is_refused_without_being_kept(incident, tool):
    huge = json.dumps(record(0, prompt="x" * (10 * 1024 * 1024))).encode()
    response = post(tool, incident, ndjson([record(1)]) + huge + b"\n")
    assert response.status_code == 400
    assert response.json()["errors"][0]["line"] == 2
    assert "longer than" in response.json()["errors"][0]["message"]
    assert nothing_stored()


@pytest.mark.parametrize(
    "content_type", ["application/json", "text/plain", "multipart/form-data"]
)
def test_wrong_content_type_is_415(content_type, incident, tool):
    assert post(tool, incident, ndjson([record(0)]), content_type).status_code == 415
    assert nothing_stored()


def test_unsupported_content_encoding_is_415(incident, tool):
    response = post(tool, incident, ndjson([record(0)]), HTTP_CONTENT_ENCODING="br")
    assert response.status_code == 415


def test_ingest_token_for_an_incident_its_owner_cannot_see_is_404(
    service_user, api, outsider
):
    hidden = make_incident(by=outsider)
    response = post(api(service_user, "ingest"), hidden, ndjson([record(0)]))
    assert response.status_code == 404
    assert nothing_stored()


def test_same_idempotency_key_and_body_returns_the_first_batch(incident, tool):
    body = ndjson(record(i) for i in range(5))
    first = post(tool, incident, body, HTTP_IDEMPOTENCY_KEY="batch-42")
    again = post(tool, incident, body, HTTP_IDEMPOTENCY_KEY="batch-42")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert QueryLogRow.objects.count() == 5 and QueryLogBatch.objects.count() == 1


def test_same_idempotency_key_with_another_body_is_409(incident, tool):
    post(tool, incident, ndjson([record(0)]), HTTP_IDEMPOTENCY_KEY="k")
    response = post(tool, incident, ndjson([record(1)]), HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 409
    assert QueryLogRow.objects.count() == 1


def test_idempotency_key_longer_than_200_is_refused(incident, tool):
    response = post(tool, incident, ndjson([record(0)]), HTTP_IDEMPOTENCY_KEY="k" * 201)
    assert response.status_code == 400
    assert nothing_stored()


@pytest.mark.django_db(transaction=True)
def test_identical_requests_racing_store_one_batch(settings, tmp_path):
    from rest_framework.test import APIClient

    settings.MEDIA_ROOT = tmp_path / "media"
    owner = UserFactory(role="analyst")
    incident = make_incident(by=owner)
    token = make_token(owner, "ingest")
    body = ndjson(record(i) for i in range(200))
    barrier = threading.Barrier(4)
    statuses = []

    def send():
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
            barrier.wait()
            statuses.append(
                post(client, incident, body, HTTP_IDEMPOTENCY_KEY="race").status_code
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 200, 200, 201]
    assert QueryLogBatch.objects.count() == 1
    assert QueryLogRow.objects.count() == 200


def test_ingest_token_cannot_read_rows(incident, tool):
    post(tool, incident, ndjson([record(0)]))
    assert (
        tool.get(f"/api/v1/incidents/{incident.reference}/query-logs/").status_code
        == 403
    )
    assert (
        tool.get(
            f"/api/v1/incidents/{incident.reference}/query-logs/stats/"
        ).status_code
        == 403
    )


@pytest.mark.parametrize(
    ("caller", "expected"),
    [("reviewer", 200), ("analyst", 200), ("outsider", 404), ("service_user", 403)],
)
def test_who_reads_rows(caller, expected, incident, tool, request, api):
    post(tool, incident, ndjson([record(0)]))
    client = api(request.getfixturevalue(caller))
    assert (
        client.get(f"/api/v1/incidents/{incident.reference}/query-logs/").status_code
        == expected
    )


def test_list_filters_and_cursor_pagination(incident, tool, analyst, api):
    rows = [record(i, ip=f"198.51.100.{i % 2}") for i in range(30)]
    post(tool, incident, ndjson(rows))
    client = api(analyst)
    path = f"/api/v1/incidents/{incident.reference}/query-logs/"
    seen, url = [], f"{path}?account_id=acct_1&page_size=4"
    while url:
        page = client.get(url).json()
        seen += page["results"]
        url = page["next"]
    assert len(seen) == 10 and {r["account_id"] for r in seen} == {"acct_1"}
    times = [r["timestamp"] for r in seen]
    assert times == sorted(times)
    assert (
        len(client.get(f"{path}?ip=198.51.100.1&page_size=100").json()["results"]) == 15
    )
    window = client.get(
        f"{path}?since=2026-11-02T03:10:00Z&until=2026-11-02T03:20:00Z"
    ).json()
    assert len(window["results"]) == 10
    assert client.get(f"{path}?since=2026-11-02T03:10:00").status_code == 400
    assert client.get(f"{path}?ip=not-an-ip").status_code == 400


def test_stats_count_accounts_and_hours(incident, tool, analyst, api):
    rows = [record(i) for i in range(9)] + [
        record(0, timestamp="2026-11-02T05:30:00Z", account_id="acct_x")
    ]
    post(tool, incident, ndjson(rows))
    stats = (
        api(analyst)
        .get(f"/api/v1/incidents/{incident.reference}/query-logs/stats/")
        .json()
    )
    assert stats["rows"] == 10
    assert stats["accounts"][0] == {
        "account_id": "acct_0",
        "count": 3,
        "first_seen": "2026-11-02T03:00:00.000000Z",
        "last_seen": "2026-11-02T03:06:00.000000Z",
    }
    assert [a["count"] for a in stats["accounts"]] == sorted(
        (a["count"] for a in stats["accounts"]), reverse=True
    )
    assert stats["hourly"] == [
        {"hour": "2026-11-02T03:00:00.000000Z", "count": 9},
        {"hour": "2026-11-02T05:00:00.000000Z", "count": 1},
    ]


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (json.dumps(record(0, prompt="a\u0000b")).encode(), "prompt"),
        (json.dumps(record(0, params={"stop": ["\u0000"]})).encode(), "params"),
        (json.dumps(record(0, custom="x\u0000")).encode(), "custom"),
    ],
)
def test_nul_characters_are_refused_not_a_server_error(line, field, incident, tool):
    response = post(tool, incident, line + b"\n")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field
    assert nothing_stored()


@pytest.mark.parametrize(
    "moment", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]
)
def test_times_outside_the_utc_range_are_line_errors(moment, incident, tool):
    response = post(tool, incident, ndjson([record(0, timestamp=moment)]))
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "timestamp"


def test_an_address_with_a_zone_index_is_a_line_error_not_a_server_error(
    incident, tool
):
    # fe80::1%eth0 is a valid Python address but no PostgreSQL inet
    response = post(tool, incident, ndjson([record(0, ip="fe80::1%eth0")]))
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert (error["field"], error["line"]) == ("ip", 1)
    assert "zone index" in error["message"]
    assert nothing_stored()


def test_a_raw_nul_byte_in_csv_is_a_line_error(incident, tool):
    body = b"timestamp,account_id\n2026-01-01T00:00:00Z,a\x00b\n"
    response = post(tool, incident, body, "text/csv")
    assert response.status_code == 400
    assert response.json()["errors"][0]["line"] == 2
    assert nothing_stored()


def test_an_invalid_cursor_is_a_400(incident, tool, analyst, api):
    post(tool, incident, ndjson([record(0)]))
    path = f"/api/v1/incidents/{incident.reference}/query-logs/?cursor=garbage"
    response = api(analyst).get(path)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "cursor"
