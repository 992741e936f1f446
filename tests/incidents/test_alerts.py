"""Alerts from detection tools (contract: "Alerts" in shared/API.md): deduplication,
correlation, validation, who may post, and the list and detail endpoints."""

import threading

import pytest
from django.db import connection

from accounts.models import Membership
from incidents import alerts, services
from incidents.models import Alert, HistoryEntry, Incident, Subject
from tests.conftest import bearer
from tests.factories import UserFactory, make_incident

URL = "/api/v1/alerts/"
DROP = object()


def body(**changes) -> dict:
    data = {
        "source": "hydra-watch",
        "external_id": "cluster-0042",
        "title": "Account cluster harvesting reasoning traces",
        "severity": "high",
        "detected_at": "2026-11-20T09:30:00+01:00",
        "model": "atlas-2",
        "subjects": [
            {"kind": "ip", "value": "2001:DB8::1"},
            {"kind": "account", "value": "acct_991"},
        ],
        "signals": [
            {
                "name": "shared_ip",
                "value": 14,
                "threshold": 3,
                "p_value": 1e-6,
                "explanation": "14 accounts share one address",
            },
            {"name": "burst_signup", "value": 0.8, "threshold": None, "p_value": None},
        ],
        "score": 0.93,
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not DROP}


def stored() -> tuple:
    """Everything a refused or repeated post must leave alone."""
    return (
        tuple(Alert.objects.values_list("id", "occurrences", "incident_id", "status")),
        Incident.objects.count(),
        Subject.objects.count(),
        HistoryEntry.objects.count(),
        Membership.objects.count(),
    )


def actions(incident: Incident) -> list[str]:
    return list(incident.history.values_list("action", flat=True))


# ---- First sighting: correlation ---------------------------------------------


def test_an_alert_that_matches_nothing_opens_a_triage_incident(service_user, api):
    # when
    response = api(service_user, "ingest").post(URL, body(), format="json")
    # then
    assert response.status_code == 201, response.content
    data = response.json()
    incident = Incident.objects.get(reference=data["incident"])
    assert incident.status == "triage"
    assert incident.title == "Account cluster harvesting reasoning traces"
    assert incident.severity == "high"
    assert incident.affected_models == ["atlas-2"]
    assert incident.memberships.filter(user=service_user).exists()
    assert set(incident.subjects.values_list("kind", "value")) == {
        ("ip", "2001:db8::1"),
        ("account", "acct_991"),
    }
    assert actions(incident).count("alert.received") == 1
    assert "incident.opened" in actions(incident)
    assert data["incident_url"].endswith(f"/api/v1/incidents/{incident.reference}/")
    assert data["url"] == f"http://testserver/api/v1/alerts/{data['id']}/"
    assert data["status"] == "new"
    assert data["occurrences"] == 1
    assert data["detected_at"] == "2026-11-20T08:30:00.000000Z"
    assert data["first_seen"] == data["last_seen"]
    assert data["subjects"] == [
        {"kind": "ip", "value": "2001:db8::1"},
        {"kind": "account", "value": "acct_991"},
    ]
    assert data["signals"][0] == {
        "name": "shared_ip",
        "value": 14.0,
        "threshold": 3.0,
        "p_value": 1e-6,
        "explanation": "14 accounts share one address",
    }
    assert data["score"] == 0.93


def test_an_alert_joins_an_open_incident_sharing_a_normalised_subject(
    incident, analyst, service_user, api
):
    # given
    services.subject_add(incident=incident, by=analyst, kind="ip", value="2001:db8::1")
    incidents_before = Incident.objects.count()
    # when
    response = api(service_user, "ingest").post(URL, body(), format="json")
    # then
    assert response.status_code == 201, response.content
    assert response.json()["incident"] == incident.reference
    assert Incident.objects.count() == incidents_before
    assert set(incident.subjects.values_list("kind", "value")) == {
        ("ip", "2001:db8::1"),
        ("account", "acct_991"),
    }
    assert actions(incident)[-2:] == ["subject.added", "alert.received"]


def test_the_most_recently_updated_sharing_incident_wins(analyst, service_user, api):
    # given
    shared = [{"kind": "asn", "value": "AS64500"}]
    older = make_incident(by=analyst, members=[service_user], subjects=shared)
    newer = make_incident(by=analyst, members=[service_user], subjects=shared)
    services.note_add(incident=older, by=analyst, body="Touched last.")
    # when
    response = api(service_user, "ingest").post(
        URL, body(subjects=[{"kind": "asn", "value": "as 64500"}]), format="json"
    )
    # then
    assert response.json()["incident"] == older.reference
    assert not newer.alerts.exists()


def test_closed_and_invisible_incidents_are_not_correlated(
    incident, analyst, outsider, service_user, api
):
    # given: a closed incident the tool sees, an open one it does not
    services.subject_add(incident=incident, by=analyst, kind="ip", value="2001:db8::1")
    services.incident_transition(incident=incident, by=analyst, to="triage")
    services.incident_transition(
        incident=incident, by=analyst, to="closed", reason="Benign crawler."
    )
    hidden = make_incident(
        by=outsider, subjects=[{"kind": "account", "value": "acct_991"}]
    )
    # when
    response = api(service_user, "ingest").post(URL, body(), format="json")
    # then
    assert response.status_code == 201
    reference = response.json()["incident"]
    assert reference not in (incident.reference, hidden.reference)
    assert Incident.objects.get(reference=reference).status == "triage"


def test_a_given_incident_is_used_and_receives_the_subjects(
    incident, service_user, api
):
    # when
    response = api(service_user, "ingest").post(
        URL, body(incident=incident.reference), format="json"
    )
    # then
    assert response.status_code == 201
    assert response.json()["incident"] == incident.reference
    assert incident.subjects.count() == 2
    assert "alert.received" in actions(incident)


@pytest.mark.parametrize("which", ["hidden", "missing"])
def test_a_given_incident_the_caller_cannot_see_answers_404_and_stores_nothing(
    which, outsider, service_user, api
):
    # given
    hidden = make_incident(by=outsider)
    reference = hidden.reference if which == "hidden" else "INC-1999-0001"
    before = stored()
    # when
    response = api(service_user, "ingest").post(
        URL, body(incident=reference), format="json"
    )
    # then
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "errors": []}
    assert stored() == before


# ---- Repeats -------------------------------------------------------------------


def test_a_repeat_counts_and_duplicates_nothing(incident, analyst, service_user, api):
    # given
    client = api(service_user, "ingest")
    first = client.post(URL, body(), format="json").json()
    before = stored()
    # when: the same key again, even with other subjects and an incident named
    response = client.post(
        URL,
        body(
            subjects=[{"kind": "ip", "value": "198.51.100.7"}],
            incident=incident.reference,
        ),
        format="json",
    )
    # then
    assert response.status_code == 200
    data = response.json()
    assert data["id"] == first["id"]
    assert data["incident"] == first["incident"]
    assert data["occurrences"] == 2
    assert data["last_seen"] > first["last_seen"]
    assert data["first_seen"] == first["first_seen"]
    assert stored()[1:] == before[1:]
    assert Alert.objects.get().occurrences == 2


def test_the_same_external_id_from_another_source_is_another_alert(service_user, api):
    client = api(service_user, "ingest")
    assert client.post(URL, body(), format="json").status_code == 201
    assert client.post(URL, body(source="other-tool"), format="json").status_code == 201
    assert Alert.objects.count() == 2


def test_a_repeat_of_an_alert_the_caller_cannot_see_answers_as_a_first_sighting(
    service_user, api
):
    # given: another tool's alert landed on an incident this caller cannot see
    other_tool = UserFactory(username="other-detector", role="service")
    theirs = api(other_tool, "ingest").post(URL, body(), format="json").json()
    hidden = Incident.objects.get(reference=theirs["incident"])
    hidden_before = (
        tuple(Alert.objects.values_list("id", "occurrences", "last_seen_at")),
        actions(hidden),
        set(hidden.subjects.values_list("kind", "value")),
    )
    client = api(service_user, "ingest")
    # a key nobody has sent, for comparison (no subjects, so it stays on its own)
    fresh = client.post(URL, body(external_id="never-sent", subjects=[]), format="json")
    # when
    response = client.post(URL, body(), format="json")
    # then: exactly what a first sighting gets, on an incident of its own
    assert response.status_code == fresh.status_code == 201, response.content
    data = response.json()
    assert set(data) == set(fresh.json())
    assert (data["occurrences"], data["status"]) == (1, "new")
    assert data["first_seen"] == data["last_seen"]
    assert data["id"] != theirs["id"]
    assert hidden.reference not in response.content.decode()
    mine = Incident.objects.get(reference=data["incident"])
    assert mine.memberships.filter(user=service_user).exists()
    assert actions(mine).count("alert.received") == 1
    # and the other tool's alert and incident are as they were
    assert (
        tuple(
            Alert.objects.filter(pk=theirs["id"]).values_list(
                "id", "occurrences", "last_seen_at"
            )
        ),
        actions(hidden),
        set(hidden.subjects.values_list("kind", "value")),
    ) == hidden_before


def test_each_caller_counts_repeats_on_the_alert_it_can_see(service_user, api):
    # given: the same key on two incidents, each visible to one tool
    other_tool = UserFactory(username="other-detector", role="service")
    theirs = api(other_tool, "ingest").post(URL, body(), format="json").json()
    mine = api(service_user, "ingest").post(URL, body(), format="json").json()
    # when
    again_mine = api(service_user, "ingest").post(URL, body(), format="json")
    again_theirs = api(other_tool, "ingest").post(URL, body(), format="json")
    # then
    assert again_mine.status_code == again_theirs.status_code == 200
    assert (again_mine.json()["id"], again_mine.json()["occurrences"]) == (
        mine["id"],
        2,
    )
    assert (again_theirs.json()["id"], again_theirs.json()["occurrences"]) == (
        theirs["id"],
        2,
    )
    assert Alert.objects.count() == 2


def test_a_caller_who_sees_several_alerts_with_the_key_counts_on_the_first(
    service_user, admin, api
):
    # given
    other_tool = UserFactory(username="other-detector", role="service")
    first = api(other_tool, "ingest").post(URL, body(), format="json").json()
    api(service_user, "ingest").post(URL, body(), format="json")
    before = (Incident.objects.count(), HistoryEntry.objects.count())
    # when: an administrator, who sees both
    response = api(admin, "ingest").post(URL, body(), format="json")
    # then
    assert response.status_code == 200
    assert (response.json()["id"], response.json()["occurrences"]) == (first["id"], 2)
    assert (Incident.objects.count(), HistoryEntry.objects.count()) == before


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_of_one_alert_make_one_alert_and_one_incident():
    # given
    workers = 8
    tool = UserFactory(username="detector", role="service")
    clients = [bearer(tool, "ingest") for _ in range(workers)]
    barrier = threading.Barrier(workers)
    codes, errors = [], []

    def post(client):
        try:
            barrier.wait()
            codes.append(client.post(URL, body(), format="json").status_code)
        except Exception as error:  # surfaced below; a thread cannot fail the test
            errors.append(error)
        finally:
            connection.close()

    # when
    threads = [threading.Thread(target=post, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then
    assert errors == []
    assert sorted(codes) == [200] * (workers - 1) + [201]
    alert = Alert.objects.get()
    assert alert.occurrences == workers
    assert Incident.objects.count() == 1
    assert alert.incident.subjects.count() == 2
    assert alert.incident.history.filter(action="alert.received").count() == 1


# ---- Validation -----------------------------------------------------------------

INVALID = [
    ("source", body(source=DROP)),
    ("external_id", body(external_id=DROP)),
    ("title", body(title=DROP)),
    ("severity", body(severity=DROP)),
    ("detected_at", body(detected_at=DROP)),
    ("severity", body(severity="severe")),
    ("detected_at", body(detected_at="2026-11-20T09:30:00")),
    ("detected_at", body(detected_at="yesterday")),
    ("signals[0].p_value", body(signals=[{"name": "x", "value": 1, "p_value": 1.5}])),
    ("signals[0].p_value", body(signals=[{"name": "x", "value": 1, "p_value": -0.1}])),
    ("signals[0].value", body(signals=[{"name": "x", "value": "12"}])),
    ("signals[0].value", body(signals=[{"name": "x", "value": True}])),
    ("signals[0].value", body(signals=[{"name": "x"}])),
    ("signals[0].name", body(signals=[{"value": 1}])),
    (
        "signals[0].threshold",
        body(signals=[{"name": "x", "value": 1, "threshold": "3"}]),
    ),
    ("signals[0].weight", body(signals=[{"name": "x", "value": 1, "weight": 2}])),
    (
        "subjects[1].value",
        body(
            subjects=[
                {"kind": "ip", "value": "10.0.0.1"},
                {"kind": "ip", "value": "999.1.1.1"},
            ]
        ),
    ),
    ("subjects[0].kind", body(subjects=[{"kind": "phone", "value": "+1 555"}])),
    (
        "subjects[0].note",
        body(subjects=[{"kind": "ip", "value": "10.0.0.1", "note": "x"}]),
    ),
    ("score", body(score="high")),
    ("priority", body(priority="p1")),
]


@pytest.mark.parametrize(("field", "data"), INVALID)
def test_invalid_alerts_answer_400_naming_the_field_and_store_nothing(
    field, data, service_user, api
):
    # given
    before = stored()
    # when
    response = api(service_user, "ingest").post(URL, data, format="json")
    # then
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert field in [error["field"] for error in errors], errors
    assert stored() == before


def test_a_body_that_is_not_json_is_refused(service_user, api):
    response = api(service_user, "ingest").post(
        URL, "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert Alert.objects.count() == 0


def test_the_service_validates_without_the_api(service_user):
    with pytest.raises(Exception) as caught:
        alerts.alert_receive(
            by=service_user,
            source="t",
            external_id="1",
            title="x",
            severity="high",
            detected_at=None,
            signals=[{"name": "x", "value": 1, "p_value": 2}],
        )
    assert caught.value.errors[0]["field"] == "signals[0].p_value"
    assert Alert.objects.count() == 0


# ---- Who may post and read --------------------------------------------------------

POSTERS = [
    ("anonymous", None, 401),
    ("reviewer", "write", 403),
    ("reviewer", "ingest", 403),
    ("service_user", "read", 403),
    ("analyst", "read", 403),
    ("service_user", "ingest", 201),
    ("service_user", "write", 201),
    ("analyst", "ingest", 201),
    ("analyst", "write", 201),
    ("counsel", "write", 201),
    ("admin", "ingest", 201),
    ("outsider", "write", 201),
]


@pytest.mark.parametrize(("caller", "scope", "expected"), POSTERS)
def test_posting_an_alert(caller, scope, expected, incident, request, api):
    # given
    client = (
        api() if caller == "anonymous" else api(request.getfixturevalue(caller), scope)
    )
    before = stored()
    # when
    response = client.post(URL, body(), format="json")
    # then
    assert response.status_code == expected, response.content
    if expected >= 400:
        assert set(response.json()) == {"detail", "errors"}
        assert stored() == before
    else:
        assert Alert.objects.count() == 1


@pytest.fixture
def posted(incident, analyst, outsider, service_user):
    """Three alerts: two on `incident` (two tools), one on an outsider's incident."""
    hidden = make_incident(by=outsider)
    common = {
        "title": "Cluster",
        "severity": "medium",
        "detected_at": incident.created_at,
    }
    mine = alerts.alert_receive(
        by=service_user,
        source="hydra-watch",
        external_id="a",
        incident=incident,
        **common,
    )[0]
    other = alerts.alert_receive(
        by=analyst, source="canary", external_id="b", incident=incident, **common
    )[0]
    alerts.alert_dismiss(alert=other, by=analyst, reason="Test traffic.")
    theirs = alerts.alert_receive(
        by=outsider, source="hydra-watch", external_id="c", incident=hidden, **common
    )[0]
    return {"mine": mine, "other": other, "theirs": theirs}


def ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {item["id"] for item in response.json()["results"]}


@pytest.mark.parametrize(
    ("caller", "scope", "expected"),
    [
        ("service_user", "ingest", {"mine", "other"}),
        ("service_user", "read", {"mine", "other"}),
        ("reviewer", "read", {"mine", "other"}),
        ("analyst", "read", {"mine", "other"}),
        ("outsider", "read", {"theirs"}),
        ("admin", "read", {"mine", "other", "theirs"}),
    ],
)
def test_the_list_shows_alerts_on_incidents_the_caller_may_see(
    caller, scope, expected, posted, request, api
):
    client = api(request.getfixturevalue(caller), scope)
    assert ids(client.get(URL)) == {posted[name].pk for name in expected}


def test_the_list_filters_by_status_and_source(posted, admin, api):
    client = api(admin, "read")
    assert ids(client.get(URL, {"status": "new"})) == {
        posted["mine"].pk,
        posted["theirs"].pk,
    }
    assert ids(client.get(URL, {"status": "dismissed"})) == {posted["other"].pk}
    assert ids(client.get(URL, {"source": "canary"})) == {posted["other"].pk}
    assert ids(client.get(URL, {"source": "canary,hydra-watch"})) == {
        a.pk for a in posted.values()
    }
    assert ids(client.get(URL, {"status": "new", "source": "canary"})) == set()


def test_anonymous_callers_cannot_list_alerts(api, db):
    assert api().get(URL).status_code == 401


def test_an_alert_is_readable_by_whoever_sees_its_incident(posted, outsider, api):
    path = f"{URL}{posted['mine'].pk}/"
    visible = api(outsider, "read").get(f"{URL}{posted['theirs'].pk}/")
    hidden = api(outsider, "read").get(path)
    missing = api(outsider, "read").get(f"{URL}999999/")
    assert visible.status_code == 200
    assert visible.json()["dismissed_reason"] == ""
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()


def test_new_incidents_from_alerts_go_to_the_triage_team(
    settings, service_user, api, db
):
    from tests.factories import UserFactory

    lead = UserFactory(username="triage-lead", role="analyst")
    second = UserFactory(username="triage-second", role="counsel")
    settings.ALERT_TRIAGE_USERS = ["triage-second", "triage-lead", "nobody"]
    response = api(service_user, "ingest").post(
        "/api/v1/alerts/",
        {
            "source": "detector-x",
            "external_id": "team-1",
            "title": "Burst of templated prompts",
            "severity": "high",
            "detected_at": "2026-11-02T03:14:00Z",
            "subjects": [{"kind": "ip", "value": "198.51.100.77"}],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    reference = response.json()["incident"]
    for person in (lead, second):
        seen = api(person).get(f"/api/v1/incidents/{reference}/")
        assert seen.status_code == 200
    assert seen.json()["owner"] == "triage-lead"
