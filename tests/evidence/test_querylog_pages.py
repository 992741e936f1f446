"""Browser pages for query logs and forensic results: access, filters, keyset
pagination, the volume chart, and query counts that do not grow with rows."""

import html
import json
import math
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from evidence.models import QueryLogRow
from tests.evidence.conftest import upload


def record(i: int = 0, **overrides) -> dict:
    row = {
        "timestamp": f"2026-11-02T03:{i % 60:02d}:{i // 60 % 60:02d}Z",
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


@pytest.fixture
def ingest(incident, service_user, api):
    tool = api(service_user, "ingest")

    def send(rows) -> dict:
        response = tool.generic(
            "POST",
            f"/api/v1/incidents/{incident.reference}/query-logs/",
            ndjson(rows),
            content_type="application/x-ndjson",
        )
        assert response.status_code == 201, response.content
        return response.json()

    return send


def tab(client, incident, user, query: str = ""):
    client.force_login(user)
    return client.get(f"/incidents/{incident.reference}/query-logs/{query}")


def shown_hashes(response) -> list[str]:
    """Row SHA-256s in the rows table, in page order."""
    table = response.content.decode().split('id="rows"', 1)[1]
    return re.findall(r'<code class="hash" title="([0-9a-f]{64})">', table)


def next_query(response) -> str | None:
    found = re.search(r'href="\?([^"#]*)#rows" rel="next"', response.content.decode())
    return html.unescape(found.group(1)) if found else None


def ordered_hashes() -> list[str]:
    return list(
        QueryLogRow.objects.order_by("timestamp", "id").values_list(
            "row_sha256", flat=True
        )
    )


@pytest.mark.parametrize("who", ["analyst", "reviewer"])
def test_members_who_read_contents_see_the_tab(who, incident, ingest, client, request):
    # given
    batch = ingest(record(i) for i in range(20))
    # when
    response = tab(client, incident, request.getfixturevalue(who))
    # then
    assert response.status_code == 200
    page = response.content.decode()
    assert "20 rows" in page and "3 accounts" in page and "1 batch" in page
    assert batch["evidence"]["exhibit"] in page
    assert batch["body_sha256"][:12] in page and batch["merkle_root"][:12] in page
    assert shown_hashes(response) == ordered_hashes()
    assert next_query(response) is None


@pytest.mark.parametrize("who", ["outsider", "service_user"])
def test_outsiders_and_detection_tools_get_404(who, incident, ingest, client, request):
    ingest([record(0)])
    assert tab(client, incident, request.getfixturevalue(who)).status_code == 404


def test_anonymous_is_sent_to_sign_in(incident, client):
    response = client.get(f"/incidents/{incident.reference}/query-logs/")
    assert response.status_code == 302


def test_empty_state_explains_how_logs_arrive(incident, analyst, client):
    response = tab(client, incident, analyst)
    assert response.status_code == 200
    assert f"POST /api/v1/incidents/{incident.reference}/query-logs/" in (
        response.content.decode()
    )


def test_filters_narrow_the_rows(incident, ingest, analyst, client):
    # given: acct_0..2 over 03:00-03:29; one row from another address
    ingest([record(i) for i in range(30)] + [record(30, ip="198.51.100.9")])
    rows = QueryLogRow.objects.all()
    # when / then
    by_account = shown_hashes(tab(client, incident, analyst, "?account_id=acct_1"))
    assert set(by_account) == {r.row_sha256 for r in rows if r.account_id == "acct_1"}
    by_ip = shown_hashes(tab(client, incident, analyst, "?ip=198.51.100.9"))
    assert by_ip == [rows.get(ip="198.51.100.9").row_sha256]
    window = "?since=2026-11-02T03:10&until=2026-11-02T03:12"
    in_window = shown_hashes(tab(client, incident, analyst, window))
    assert set(in_window) == {
        r.row_sha256 for r in rows if 10 <= r.timestamp.minute < 12
    }
    assert shown_hashes(tab(client, incident, analyst, "?model=other")) == []


def test_invalid_filter_is_ignored_with_a_message(incident, ingest, analyst, client):
    ingest(record(i) for i in range(5))
    response = tab(client, incident, analyst, "?ip=not-an-ip&since=yesterday")
    assert response.status_code == 200
    assert len(shown_hashes(response)) == 5
    assert "Ignored the IP address filter" in response.content.decode()


def test_next_page_follows_without_overlap(incident, ingest, analyst, client):
    # given: 250 rows, some sharing a timestamp (so the id breaks ties)
    ingest(record(i, timestamp=f"2026-11-02T04:{i // 5:02d}:00Z") for i in range(250))
    expected = ordered_hashes()
    # when
    first = tab(client, incident, analyst)
    second = client.get(
        f"/incidents/{incident.reference}/query-logs/?{next_query(first)}"
    )
    third = client.get(
        f"/incidents/{incident.reference}/query-logs/?{next_query(second)}"
    )
    # then
    assert shown_hashes(first) == expected[:100]
    assert shown_hashes(second) == expected[100:200]
    assert shown_hashes(third) == expected[200:]
    assert next_query(third) is None
    assert "« First page</a>" in third.content.decode()


def test_next_page_keeps_the_filters(incident, ingest, analyst, client):
    ingest(
        record(i, timestamp=f"2026-11-02T05:{i % 60:02d}:{i // 60:02d}Z")
        for i in range(330)
    )
    first = tab(client, incident, analyst, "?account_id=acct_2")
    assert "account_id=acct_2" in next_query(first)
    second = client.get(
        f"/incidents/{incident.reference}/query-logs/?{next_query(first)}"
    )
    expected = [r for r in ordered_hashes()]
    acct_2 = set(
        QueryLogRow.objects.filter(account_id="acct_2").values_list(
            "row_sha256", flat=True
        )
    )
    expected = [h for h in expected if h in acct_2]
    assert shown_hashes(second) == expected[100:110]


@pytest.mark.parametrize(
    "after",
    [
        "garbage",
        ",",
        "2026-13-45T00:00:00Z,1",
        "2026-11-02T03:00:00Z,abc",
        "2026-11-02T03:00:00Z,-5",
        "2026-11-02T03:00:00Z,99999999999999999999999",
        "%ff",
    ],
)
def test_malformed_cursor_shows_the_first_page(
    after, incident, ingest, analyst, client
):
    ingest(record(i) for i in range(5))
    response = tab(client, incident, analyst, f"?after={after}")
    assert response.status_code == 200
    assert len(shown_hashes(response)) == 5
    assert "malformed page position" in response.content.decode()


def test_chart_has_one_bar_per_hour_of_the_span(incident, ingest, analyst, client):
    # given: rows at 03:xx and 07:xx only; 04-06 are empty hours
    ingest(
        [record(i, timestamp=f"2026-11-02T03:{i:02d}:00Z") for i in range(4)]
        + [record(9, timestamp="2026-11-02T07:59:59Z")]
    )
    # when
    page = tab(client, incident, analyst).content.decode()
    # then
    svg = page.split('<svg class="volume-chart"', 1)[1].split("</svg>", 1)[0]
    assert svg.count('<g class="bar">') == 5
    assert svg.count('class="fill"') == 2
    assert "2026-11-02 03:00–04:00 UTC: 4 rows" in svg
    assert "2026-11-02 05:00–06:00 UTC: 0 rows" in svg


def test_long_span_is_drawn_per_day(incident, ingest, analyst, client):
    # given: 100 days apart, more than 2,000 hours
    ingest(
        [
            record(0, timestamp="2026-01-01T10:00:00Z"),
            record(1, timestamp="2026-04-10T23:00:00Z"),
        ]
    )
    page = tab(client, incident, analyst).content.decode()
    svg = page.split('<svg class="volume-chart"', 1)[1].split("</svg>", 1)[0]
    assert svg.count('<g class="bar">') == 100
    assert "Volume per day" in page


def test_query_count_does_not_grow_with_rows(
    incident, analyst, service_user, api, client
):
    def count_for(n: int, start: int) -> int:
        tool = api(service_user, "ingest")
        body = ndjson(
            record(
                i,
                account_id=f"acct_{i % 97}",
                timestamp=f"2026-11-0{2 + i // 1440}T{i // 60 % 24:02d}:{i % 60:02d}:00Z",
            )
            for i in range(start, start + n)
        )
        assert (
            tool.generic(
                "POST",
                f"/api/v1/incidents/{incident.reference}/query-logs/",
                body,
                content_type="application/x-ndjson",
            ).status_code
            == 201
        )
        client.force_login(analyst)
        url = f"/incidents/{incident.reference}/query-logs/"
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    small = count_for(20, 0)
    large = count_for(300, 20)
    assert QueryLogRow.objects.count() == 320
    assert small == large


# ---- Forensic results -------------------------------------------------------------

Z = 9.81


def forensic(**overrides) -> dict:
    body = {
        "method": {"family": "watermark", "name": "kirchenbauer-z", "version": "1.3"},
        "suspect_model": "rival-7b",
        "parameters": {"gamma": 0.25},
        "statistic": {"name": "z", "value": Z},
        "p_value": 0.5 * math.erfc(Z / math.sqrt(2)),
        "alpha": 0.01,
        "verdict": "supports",
        "summary": "Green-list rate far above chance. <script>alert(1)</script>",
        "limitations": ["Assumes no paraphrasing."],
        "artefacts": [],
    }
    body.update(overrides)
    return body


def test_forensic_results_page_shows_the_result(
    incident, analyst, reviewer, service_user, api, client
):
    # given
    artefact = upload(api(analyst), incident.reference, b"suspect outputs").json()
    response = api(service_user, "ingest").post(
        f"/api/v1/incidents/{incident.reference}/forensic-results/",
        forensic(artefacts=[artefact["id"]]),
        format="json",
    )
    assert response.status_code == 201, response.content
    stored = response.json()
    # when
    client.force_login(reviewer)
    page = client.get(f"/incidents/{incident.reference}/forensic-results/")
    # then
    assert page.status_code == 200
    text = page.content.decode()
    assert "5.1e-23" in text
    assert "kirchenbauer-z" in text and "rival-7b" in text and "v1.3" in text
    assert "z = 9.81" in text and "0.01" in text and "Yes, significant" in text
    assert "Supports" in text and "Assumes no paraphrasing." in text
    assert "gamma" in text and "0.25" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<script>alert(1)" not in text
    assert stored["evidence"]["exhibit"] in text
    assert stored["evidence"]["sha256"][:12] in text
    assert artefact["exhibit"] in text


def test_forensic_results_page_is_hidden_from_outsiders(incident, outsider, client):
    client.force_login(outsider)
    assert (
        client.get(f"/incidents/{incident.reference}/forensic-results/").status_code
        == 404
    )


def test_incident_page_links_the_new_tabs(incident, analyst, client):
    client.force_login(analyst)
    page = client.get(f"/incidents/{incident.reference}/").content.decode()
    assert f"/incidents/{incident.reference}/query-logs/" in page
    assert f"/incidents/{incident.reference}/forensic-results/" in page
