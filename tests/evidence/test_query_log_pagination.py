"""Row pagination over the API is keyset on (timestamp, id): ties never stall it."""

import pytest

from tests.evidence.test_query_logs import ndjson, post, record


@pytest.fixture
def tool(service_user, api):
    return api(service_user, "ingest")


def walk(client, url: str, link: str) -> tuple[list[int], list[dict]]:
    """Follow `link` ("next" or "previous") to the end; the ids in page order."""
    ids, pages = [], []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        page = response.json()
        pages.append(page)
        ids.append([row["id"] for row in page["results"]])
        url = page[link]
        assert len(pages) < 100, "pagination does not end"
    return ids, pages


def test_more_than_1000_rows_sharing_a_timestamp_page_to_the_end_each_once(
    incident, tool, analyst, api
):
    # given: 1,100 rows at one instant, and a few before and after it
    same = [record(i, timestamp="2026-11-02T03:00:00Z") for i in range(1100)]
    before = [record(i, timestamp="2026-11-02T02:00:00Z") for i in range(5)]
    after = [record(i, timestamp="2026-11-02T04:00:00Z") for i in range(5)]
    assert post(tool, incident, ndjson(after + same + before)).status_code == 201
    reader = api(analyst)
    url = f"/api/v1/incidents/{incident.reference}/query-logs/?page_size=100"
    # when: forward to the end
    forward, pages = walk(reader, url, "next")
    # then: every row exactly once, in (timestamp, id) order
    flat = [pk for page in forward for pk in page]
    assert len(flat) == len(set(flat)) == 1110
    assert len(forward) == 12 and len(forward[-1]) == 10
    stamps = [row["timestamp"] for page in pages for row in page["results"]]
    assert stamps == sorted(stamps)
    assert flat[5:1105] == sorted(flat[5:1105])
    assert pages[0]["previous"] is None

    # when: back from the last page to the first
    backward, back_pages = walk(reader, pages[-1]["previous"], "previous")
    # then: the same pages, in reverse
    assert backward == forward[-2::-1]
    assert back_pages[-1]["previous"] is None


def test_a_filtered_listing_pages_by_keyset_too(incident, tool, analyst, api):
    rows = [record(i, timestamp="2026-11-02T03:00:00Z") for i in range(30)]
    assert post(tool, incident, ndjson(rows)).status_code == 201
    url = (
        f"/api/v1/incidents/{incident.reference}/query-logs/"
        "?account_id=acct_1&page_size=3"
    )
    forward, _ = walk(api(analyst), url, "next")
    flat = [pk for page in forward for pk in page]
    assert len(flat) == len(set(flat)) == 10
