"""Work one query-log request may cause: memory per record, inflate ratio, lines,
nesting, and no database write lock held while a body is parsed."""

import gzip
import json
import threading
import time
import tracemalloc

import pytest
from django.db import connection
from rest_framework.test import APIClient

from evidence.models import QueryLogRow
from incidents.models import Note
from tests.evidence.test_query_logs import ndjson, nothing_stored, post, record
from tests.factories import UserFactory, make_incident, make_token


@pytest.fixture
def tool(service_user, api):
    return api(service_user, "ingest")


def test_a_huge_csv_line_without_a_newline_is_refused_in_bounded_memory(
    incident, tool, settings
):
    # given: a 400 KB gzip body that inflates to one 64 MiB line without a newline
    # (the ratio budget is turned off so the record bound alone is what is tested)
    settings.QUERY_LOG_MAX_INFLATE_RATIO = 0
    huge = b"timestamp,account_id,prompt\n2026-11-02T03:00:00Z,a," + b"x" * (64 << 20)
    body = gzip.compress(huge, compresslevel=1)
    del huge
    # when
    tracemalloc.start()
    try:
        response = post(tool, incident, body, "text/csv", HTTP_CONTENT_ENCODING="gzip")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # then: a 400 naming the line, and memory about the 4 MiB record limit, not 64 MiB
    assert response.status_code == 400, response.content
    error = response.json()["errors"][0]
    assert error["line"] == 2
    assert f"longer than {settings.QUERY_LOG_MAX_LINE_BYTES} bytes" in error["message"]
    assert peak < 24 << 20, f"peak {peak} bytes"
    assert nothing_stored()


def test_a_csv_record_split_over_quoted_newlines_is_bounded_as_a_whole(
    incident, tool, settings
):
    settings.QUERY_LOG_MAX_LINE_BYTES = 1000
    value = "\n".join(["y" * 300] * 5)  # each physical line short, the record not
    body = f'timestamp,account_id,prompt\n2026-11-02T03:00:00Z,a,"{value}"\n'.encode()
    response = post(tool, incident, body, "text/csv")
    assert response.status_code == 400
    assert response.json()["errors"][0]["line"] == 2
    assert "longer than 1000 bytes" in response.json()["errors"][0]["message"]
    assert nothing_stored()


def test_a_csv_record_within_the_limit_still_spans_lines(incident, tool):
    body = (
        b'timestamp,account_id,prompt\n2026-11-02T03:00:00Z,a,"two\nlines"\n'
        b"2026-11-02T03:01:00Z,b,one\r"  # a lone carriage return ends a line too
        b"2026-11-02T03:02:00Z,c,three\r\n"
    )
    response = post(tool, incident, body, "text/csv")
    assert response.status_code == 201, response.content
    rows = QueryLogRow.objects.order_by("line").values_list("line", "prompt")
    assert list(rows) == [(2, "two\nlines"), (4, "one"), (5, "three")]


def test_a_gzip_body_of_newlines_is_refused_by_its_inflate_ratio(incident, tool):
    # given: 20 MiB of newlines, about 20 KB compressed (a ratio near 1000)
    bomb = gzip.compress(b"\n" * (20 << 20))
    # when
    started = time.monotonic()
    response = post(tool, incident, bomb, HTTP_CONTENT_ENCODING="gzip")
    # then: refused fast, naming the ratio, nothing kept
    assert response.status_code == 413
    detail = response.json()["detail"]
    assert "inflate ratio limit 200:1" in detail
    assert str(len(bomb)) in detail
    assert time.monotonic() - started < 10
    assert nothing_stored()


def test_a_small_gzip_body_passes_whatever_its_ratio(incident, tool):
    # 2,000 identical rows and blank lines compress far beyond 200:1, but inflate
    # to less than the floor (1 MiB), so they cost little and are accepted
    body = ndjson([record(0)] * 2000) + b"\n" * 200_000
    compressed = gzip.compress(body)
    assert len(body) / len(compressed) > 200
    response = post(tool, incident, compressed, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 201, response.content
    assert response.json()["rows"] == 2000


@pytest.mark.parametrize("content_type", ["application/x-ndjson", "text/csv"])
def test_more_lines_than_the_budget_answer_413_blank_ones_included(
    content_type, incident, tool, settings
):
    settings.QUERY_LOG_MAX_LINES = 1000
    if content_type == "text/csv":
        fits = b"timestamp,account_id\n" + b"2026-11-02T03:00:00Z,a\n" * 999
    else:
        fits = ndjson([record(0)] * 999) + b"\n"
    assert post(tool, incident, fits, content_type).status_code == 201

    response = post(tool, incident, fits + b"\n", content_type)
    assert response.status_code == 413
    assert "more than 1000 lines" in response.json()["detail"]
    assert QueryLogRow.objects.count() == 999  # only the first batch


@pytest.mark.django_db(transaction=True)
def test_a_note_is_written_while_a_long_body_is_being_parsed(settings, tmp_path):
    # given: a body that takes seconds to parse (a few rows among millions of blank
    # lines; the ratio and line budgets are opened up for this test)
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.QUERY_LOG_MAX_INFLATE_RATIO = 0
    settings.QUERY_LOG_MAX_LINES = 10**8
    owner = UserFactory(role="analyst")
    incident = make_incident(by=owner)
    ingest_token, write_token = make_token(owner, "ingest"), make_token(owner, "write")
    body = gzip.compress(ndjson([record(i) for i in range(10)]) + b"\n" * (6 << 20))
    done: dict[str, float] = {}
    statuses: dict[str, int] = {}

    def ingest():
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {ingest_token}")
            response = post(client, incident, body, HTTP_CONTENT_ENCODING="gzip")
            statuses["ingest"] = response.status_code
            done["ingest"] = time.monotonic()
        finally:
            connection.close()

    # when: a note is written while the ingestion is still reading its body
    thread = threading.Thread(target=ingest)
    thread.start()
    time.sleep(0.5)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {write_token}")
    note = client.post(
        f"/api/v1/incidents/{incident.reference}/notes/",
        {"body": "Written during an ingestion"},
        format="json",
    )
    done["note"] = time.monotonic()
    thread.join()
    # then: both succeed, and the note did not wait for the ingestion to finish
    assert note.status_code == 201, note.content
    assert statuses["ingest"] == 201
    assert done["note"] < done["ingest"], "the note waited for the ingestion's lock"
    assert Note.objects.filter(incident=incident).count() == 1
    assert QueryLogRow.objects.filter(incident=incident).count() == 10


def nested(depth: int) -> dict:
    return json.loads('{"a":' * depth + "1" + "}" * depth)


@pytest.mark.parametrize("depth", [150, 600])
def test_a_deeply_nested_record_is_a_line_error(depth, incident, tool):
    body = ndjson([record(0), record(1, params=nested(depth))])
    response = post(tool, incident, body)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["line"] == 2
    assert "nested deeper than 100 levels" in error["message"]
    assert nothing_stored()


def test_a_deeply_nested_csv_json_column_is_a_line_error(incident, tool):
    deep = json.dumps(nested(600)).replace('"', '""')
    body = f'timestamp,account_id,params\n2026-11-02T03:00:00Z,a,"{deep}"\n'.encode()
    response = post(tool, incident, body, "text/csv")
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert (error["line"], error["field"]) == (2, "params")
    assert nothing_stored()


def test_nesting_up_to_the_limit_is_stored(incident, tool):
    response = post(tool, incident, ndjson([record(0, params=nested(99))]))
    assert response.status_code == 201, response.content
