"""List pages and list endpoints cost the same number of queries for 2 rows or 30."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents import services
from tests.factories import make_incident

LIST_ENDPOINTS = [
    "/api/v1/incidents/",
    "/api/v1/incidents/{ref}/subjects/",
    "/api/v1/incidents/{ref}/timeline/",
    "/api/v1/incidents/{ref}/notes/",
    "/api/v1/incidents/{ref}/tasks/",
    "/api/v1/incidents/{ref}/members/",
    "/api/v1/incidents/{ref}/history/",
]
PAGES = ["/", "/incidents/{ref}/", "/incidents/{ref}/history/"]


def grow(analyst, counsel, incidents: list, n: int) -> None:
    """Add n of every kind of row to the first incident, and n more incidents."""
    incident = incidents[0]
    for i in range(n):
        services.subject_add(
            incident=incident, by=analyst, kind="ip", value=f"198.51.100.{i}"
        )
        services.timeline_add(
            incident=incident,
            by=analyst,
            occurred_at=incident.created_at,
            title=f"Event {i}",
        )
        services.note_add(
            incident=incident, by=counsel, body=f"Note {i}", privileged=i % 2 == 0
        )
        services.task_add(
            incident=incident, by=analyst, title=f"Task {i}", assignee=counsel
        )
        incidents.append(
            make_incident(
                by=analyst,
                title=f"Campaign {i}",
                subjects=[{"kind": "account", "value": f"acct_{i}"}],
            )
        )


def count_queries(fetch) -> int:
    fetch()  # warm up: the first call also notes the token's use and the session
    with CaptureQueriesContext(connection) as queries:
        response = fetch()
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("path", LIST_ENDPOINTS)
def test_list_endpoint_query_count_does_not_grow_with_rows(path, analyst, counsel, api):
    incidents = [make_incident(by=analyst, members=[counsel])]
    client = api(analyst)
    url = path.format(ref=incidents[0].reference) + "?page_size=100"
    grow(analyst, counsel, incidents, 2)
    small = count_queries(lambda: client.get(url))
    grow(analyst, counsel, incidents, 15)
    large = count_queries(lambda: client.get(url))
    assert large == small


@pytest.mark.parametrize("path", PAGES)
def test_page_query_count_does_not_grow_with_rows(path, analyst, counsel, client):
    incidents = [make_incident(by=analyst, members=[counsel])]
    client.force_login(analyst)
    url = path.format(ref=incidents[0].reference)
    grow(analyst, counsel, incidents, 2)
    small = count_queries(lambda: client.get(url))
    grow(analyst, counsel, incidents, 15)
    large = count_queries(lambda: client.get(url))
    assert large == small
