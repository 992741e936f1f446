"""Role matrix: every incident endpoint, for every kind of caller.

Anonymous callers get 401, non-members 404 (exactly like a missing incident), members
who may only read get 403 on writes, and a denied request changes nothing."""

import pytest

from accounts.models import Membership
from incidents import services
from incidents.models import HistoryEntry, Incident, Note, Subject, Task, TimelineEntry
from tests.factories import UserFactory

READS = [
    "/api/v1/incidents/{ref}/",
    "/api/v1/incidents/{ref}/subjects/",
    "/api/v1/incidents/{ref}/subjects/{subject}/",
    "/api/v1/incidents/{ref}/timeline/",
    "/api/v1/incidents/{ref}/timeline/{entry}/",
    "/api/v1/incidents/{ref}/notes/",
    "/api/v1/incidents/{ref}/notes/{note}/",
    "/api/v1/incidents/{ref}/tasks/",
    "/api/v1/incidents/{ref}/tasks/{task}/",
    "/api/v1/incidents/{ref}/members/",
    "/api/v1/incidents/{ref}/members/{member}/",
    "/api/v1/incidents/{ref}/history/",
    "/api/v1/incidents/{ref}/history/{history}/",
]
WRITES = [
    ("patch", "/api/v1/incidents/{ref}/", {"severity": "critical"}, 200),
    ("post", "/api/v1/incidents/{ref}/transition/", {"to": "triage"}, 200),
    (
        "post",
        "/api/v1/incidents/{ref}/subjects/",
        {"kind": "ip", "value": "203.0.113.9"},
        201,
    ),
    (
        "post",
        "/api/v1/incidents/{ref}/timeline/",
        {"occurred_at": "2026-11-01T10:00:00Z", "title": "Burst of sign-ups"},
        201,
    ),
    ("post", "/api/v1/incidents/{ref}/notes/", {"body": "Templates match."}, 201),
    ("post", "/api/v1/incidents/{ref}/tasks/", {"title": "Pull logs"}, 201),
    ("patch", "/api/v1/incidents/{ref}/tasks/{task}/", {"is_done": True}, 200),
    ("post", "/api/v1/incidents/{ref}/members/", {"user": "dave"}, 201),
    ("delete", "/api/v1/incidents/{ref}/members/{member}/", None, 204),
]
CALLERS = [
    "anonymous",
    "outsider",
    "reviewer",
    "service_user",
    "analyst",
    "counsel",
    "admin",
]
CAN_WRITE = {"analyst", "counsel", "admin"}


@pytest.fixture
def case(incident, analyst, reviewer):
    UserFactory(username="dave")
    subject, _ = services.subject_add(
        incident=incident, by=analyst, kind="asn", value="AS64500"
    )
    entry = services.timeline_add(
        incident=incident,
        by=analyst,
        occurred_at=incident.created_at,
        title="First request",
    )
    note = services.note_add(incident=incident, by=analyst, body="Seen before.")
    task = services.task_add(incident=incident, by=analyst, title="Export logs")
    history = HistoryEntry.objects.filter(incident=incident).first()
    return {
        "ref": incident.reference,
        "subject": subject.pk,
        "entry": entry.pk,
        "note": note.pk,
        "task": task.pk,
        "member": reviewer.username,
        "history": history.pk,
    }


def state(reference: str) -> tuple:
    incident = Incident.objects.get(reference=reference)
    return (
        tuple(
            getattr(incident, f)
            for f in ("title", "severity", "status", "owner_id", "updated_at")
        ),
        *(
            model.objects.count()
            for model in (HistoryEntry, Subject, TimelineEntry, Note, Task, Membership)
        ),
        tuple(Task.objects.values_list("is_done", flat=True)),
    )


def client_for(name, request, api):
    return api() if name == "anonymous" else api(request.getfixturevalue(name))


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("path", READS)
def test_reading_incident_parts(caller, path, case, request, api):
    # given
    client = client_for(caller, request, api)
    # when
    response = client.get(path.format(**case))
    # then
    expected = {"anonymous": 401, "outsider": 404}.get(caller, 200)
    assert response.status_code == expected, response.content
    if expected != 200:
        assert set(response.json()) == {"detail", "errors"}


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("method", "path", "body", "success"), WRITES)
def test_writing_incident_parts(
    caller, method, path, body, success, case, request, api
):
    # given
    client = client_for(caller, request, api)
    before = state(case["ref"])
    # when
    response = getattr(client, method)(path.format(**case), body, format="json")
    # then
    if caller == "anonymous":
        expected = 401
    elif caller == "outsider":
        expected = 404
    elif caller not in CAN_WRITE:
        expected = 403
    else:
        expected = success
    assert response.status_code == expected, response.content
    if expected >= 400:
        assert state(case["ref"]) == before
        assert set(response.json()) == {"detail", "errors"}
    else:
        assert state(case["ref"]) != before


@pytest.mark.parametrize("caller", CALLERS)
def test_opening_an_incident(caller, request, api, db):
    client = client_for(caller, request, api)
    body = {"title": "Burst", "kind": "distillation", "severity": "low"}
    response = client.post("/api/v1/incidents/", body, format="json")
    expected = {"anonymous": 401, "reviewer": 403, "service_user": 403}.get(caller, 201)
    assert response.status_code == expected, response.content
    assert Incident.objects.count() == (1 if expected == 201 else 0)


@pytest.mark.parametrize("caller", CALLERS)
def test_incident_list_shows_only_visible_incidents(caller, case, request, api):
    client = client_for(caller, request, api)
    response = client.get("/api/v1/incidents/")
    if caller == "anonymous":
        assert response.status_code == 401
        return
    assert response.status_code == 200
    references = [item["reference"] for item in response.json()["results"]]
    assert references == ([] if caller == "outsider" else [case["ref"]])


def test_a_hidden_incident_answers_exactly_like_a_missing_one(case, outsider, api):
    client = api(outsider)
    hidden = client.get(f"/api/v1/incidents/{case['ref']}/notes/")
    missing = client.get("/api/v1/incidents/INC-1999-9999/notes/")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()


def test_deleting_an_incident_is_not_allowed(case, analyst, api):
    response = api(analyst).delete(f"/api/v1/incidents/{case['ref']}/")
    assert response.status_code == 405
    assert Incident.objects.filter(reference=case["ref"]).exists()


def test_reviewer_does_not_see_privileged_notes(incident, analyst, reviewer, api):
    # given
    services.note_add(incident=incident, by=analyst, body="Open note")
    secret = services.note_add(
        incident=incident, by=analyst, body="Counsel's view", privileged=True
    )
    path = f"/api/v1/incidents/{incident.reference}/notes/"
    # when
    seen_by_reviewer = api(reviewer).get(path).json()["results"]
    seen_by_analyst = api(analyst).get(path).json()["results"]
    # then
    assert [n["body"] for n in seen_by_reviewer] == ["Open note"]
    assert {n["privileged"] for n in seen_by_analyst} == {True, False}
    assert api(reviewer).get(f"{path}{secret.pk}/").status_code == 404
