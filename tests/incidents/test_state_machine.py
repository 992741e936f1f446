"""Every allowed and every forbidden status move, through the API."""

import itertools

import pytest

from incidents.models import HistoryEntry, Incident

ALLOWED = {
    ("open", "triage"),
    ("triage", "investigating"),
    ("triage", "closed"),
    ("investigating", "legal_review"),
    ("investigating", "closed"),
    ("legal_review", "investigating"),
    ("legal_review", "referred"),
    ("legal_review", "closed"),
    ("referred", "closed"),
    ("closed", "investigating"),
}
STATUSES = [s.value for s in Incident.Status]
MOVES = [(a, b) for a, b in itertools.product(STATUSES, STATUSES) if a != b]


def put_in(incident: Incident, status: str) -> Incident:
    # Test setup: place the incident directly in the starting status.
    Incident.objects.filter(pk=incident.pk).update(status=status)
    incident.refresh_from_db()
    return incident


@pytest.mark.parametrize(("start", "target"), MOVES)
def test_status_move(start, target, incident, analyst, api):
    # given
    put_in(incident, start)
    history_before = HistoryEntry.objects.count()
    # when
    response = api(analyst).post(
        f"/api/v1/incidents/{incident.reference}/transition/",
        {"to": target, "reason": "Evidence reviewed"},
        format="json",
    )
    # then
    incident.refresh_from_db()
    if (start, target) in ALLOWED:
        assert response.status_code == 200, response.content
        assert response.json()["status"] == target
        assert incident.status == target
        entry = HistoryEntry.objects.latest("id")
        assert (entry.before, entry.after) == ({"status": start}, {"status": target})
        assert entry.reason == "Evidence reviewed"
    else:
        assert response.status_code == 409, response.content
        assert start in response.json()["detail"]
        assert incident.status == start
        assert HistoryEntry.objects.count() == history_before


@pytest.mark.parametrize("status", STATUSES)
def test_moving_to_the_current_status_is_a_no_op(status, incident, analyst, api):
    put_in(incident, status)
    history_before = HistoryEntry.objects.count()
    response = api(analyst).post(
        f"/api/v1/incidents/{incident.reference}/transition/",
        {"to": status},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["status"] == status
    assert HistoryEntry.objects.count() == history_before


@pytest.mark.parametrize(
    ("start", "target"), [("triage", "closed"), ("closed", "investigating")]
)
@pytest.mark.parametrize("reason", [None, "", "   "])
def test_closing_and_reopening_require_a_reason(
    start, target, reason, incident, analyst, api
):
    put_in(incident, start)
    body = {"to": target} if reason is None else {"to": target, "reason": reason}
    response = api(analyst).post(
        f"/api/v1/incidents/{incident.reference}/transition/", body, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "reason"
    incident.refresh_from_db()
    assert incident.status == start


def test_closing_records_closed_at_and_reopening_clears_it(incident, analyst, api):
    put_in(incident, "investigating")
    path = f"/api/v1/incidents/{incident.reference}/transition/"
    closed = api(analyst).post(
        path, {"to": "closed", "reason": "Accounts banned"}, format="json"
    )
    assert closed.json()["closed_at"] is not None
    reopened = api(analyst).post(
        path, {"to": "investigating", "reason": "New wave"}, format="json"
    )
    assert reopened.json()["closed_at"] is None


def test_unknown_target_status_is_invalid_input(incident, analyst, api):
    response = api(analyst).post(
        f"/api/v1/incidents/{incident.reference}/transition/",
        {"to": "archived"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "to"
