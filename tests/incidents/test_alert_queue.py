"""The alerts queue: promote, merge and dismiss, in the browser and through the API.

Each act is recorded in the incident history; an illegal act explains itself and
changes nothing."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents import alerts, services
from incidents.models import Alert, HistoryEntry, Incident, Subject
from incidents.services import membership_add
from tests.factories import UserFactory, make_incident

QUEUE = "/alerts/"


def receive(by, incident=None, external_id="cluster-1", **fields) -> Alert:
    fields.setdefault("title", "Synchronised sign-ups behind one proxy")
    fields.setdefault("severity", "high")
    fields.setdefault("subjects", [{"kind": "asn", "value": "AS64500"}])
    fields.setdefault(
        "signals", [{"name": "shared_asn", "value": 41, "p_value": 0.0004}]
    )
    alert, _ = alerts.alert_receive(
        by=by,
        source=fields.pop("source", "hydra-watch"),
        external_id=external_id,
        detected_at=fields.pop("detected_at", None) or _now(),
        incident=incident,
        **fields,
    )
    return alert


def _now():
    from django.utils import timezone

    return timezone.now()


@pytest.fixture
def alert(incident, service_user) -> Alert:
    return receive(service_user, incident)


@pytest.fixture
def target(analyst, counsel, reviewer) -> Incident:
    """Another incident the case team can see."""
    return make_incident(
        by=analyst, members=[counsel, reviewer], title="Known reseller campaign"
    )


def state() -> tuple:
    return (
        tuple(
            Alert.objects.order_by("pk").values_list(
                "status", "incident_id", "dismissed_reason", "handled_by_id"
            )
        ),
        tuple(Incident.objects.order_by("pk").values_list("status", "updated_at")),
        HistoryEntry.objects.count(),
        Subject.objects.count(),
    )


def flashes(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def last_actions(incident: Incident, n: int) -> list[str]:
    return list(incident.history.values_list("action", flat=True))[-n:]


# ---- The queue page ------------------------------------------------------------


def test_the_queue_lists_new_alerts_with_their_signals(alert, analyst, client):
    client.force_login(analyst)
    response = client.get(QUEUE)
    assert response.status_code == 200
    html = response.content.decode()
    assert alert.title in html
    assert alert.incident.reference in html
    assert "shared_asn=41 (p=0.0004)" in html
    assert "AS64500" in html
    assert f'action="/alerts/{alert.pk}/promote/"' in html


def test_the_queue_shows_new_alerts_unless_asked_otherwise(
    alert, incident, analyst, service_user, client
):
    # given
    other = receive(service_user, incident, external_id="cluster-2", source="canary")
    alerts.alert_dismiss(alert=other, by=analyst, reason="Load test.")
    client.force_login(analyst)
    # then
    assert list(client.get(QUEUE).context["page"]) == [alert]
    assert list(client.get(QUEUE, {"status": "dismissed"}).context["page"]) == [other]
    assert set(client.get(QUEUE, {"status": "all"}).context["page"]) == {alert, other}
    everything = {"status": "all", "source": "canary"}
    assert list(client.get(QUEUE, everything).context["page"]) == [other]


def test_the_queue_shows_only_alerts_on_visible_incidents(alert, outsider, client):
    client.force_login(outsider)
    response = client.get(QUEUE)
    assert list(response.context["page"]) == []
    assert alert.title not in response.content.decode()


def test_readers_see_the_queue_without_actions(alert, reviewer, client):
    client.force_login(reviewer)
    html = client.get(QUEUE).content.decode()
    assert alert.title in html
    assert "/promote/" not in html


def test_the_queue_needs_a_sign_in(alert, client):
    response = client.get(QUEUE)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_the_nav_links_to_the_queue(analyst, client):
    client.force_login(analyst)
    assert '<a class="navlink" href="/alerts/"' in client.get("/").content.decode()


def test_the_incident_page_lists_its_alerts(alert, analyst, client):
    client.force_login(analyst)
    response = client.get(f"/incidents/{alert.incident.reference}/")
    assert list(response.context["alerts"]) == [alert]
    assert alert.title in response.content.decode()


# ---- Acts in the browser -----------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "path", "end"),
    [
        ("open", [], "investigating"),
        ("triage", ["triage"], "investigating"),
        ("investigating", ["triage", "investigating"], "investigating"),
        ("legal_review", ["triage", "investigating", "legal_review"], "legal_review"),
    ],
)
def test_promoting_moves_the_incident_on_to_investigating(
    start, path, end, alert, incident, analyst, client
):
    # given
    for step in path:
        services.incident_transition(incident=incident, by=analyst, to=step)
    moves_before = incident.history.filter(action="incident.transitioned").count()
    client.force_login(analyst)
    # when
    response = client.post(
        f"/alerts/{alert.pk}/promote/", {"query": "status=new"}, follow=True
    )
    # then
    assert response.redirect_chain[-1][0] == "/alerts/?status=new"
    alert.refresh_from_db()
    incident.refresh_from_db()
    assert alert.status == "promoted"
    assert alert.handled_by == analyst
    assert incident.status == end
    moves = incident.history.filter(action="incident.transitioned").count()
    assert moves - moves_before == {"open": 2, "triage": 1}.get(start, 0)
    assert last_actions(incident, 1) == ["alert.promoted"]
    assert any("Promoted" in text for text in flashes(response))


def test_promoting_an_alert_on_a_closed_incident_changes_nothing(
    alert, incident, analyst, client
):
    # given
    services.incident_transition(incident=incident, by=analyst, to="triage")
    services.incident_transition(
        incident=incident, by=analyst, to="closed", reason="Done."
    )
    before = state()
    client.force_login(analyst)
    # when
    response = client.post(f"/alerts/{alert.pk}/promote/", follow=True)
    # then
    assert "reopen it" in " ".join(flashes(response))
    assert state() == before


def test_merging_moves_the_alert_and_its_subjects_and_records_both_sides(
    alert, incident, target, analyst, client
):
    # given
    client.force_login(analyst)
    # when
    response = client.post(
        f"/alerts/{alert.pk}/merge/",
        {"incident": target.reference.lower()},
        follow=True,
    )
    # then
    alert.refresh_from_db()
    assert alert.status == "merged"
    assert alert.incident == target
    assert target.subjects.filter(kind="asn", value="AS64500").exists()
    assert last_actions(incident, 1) == ["alert.merged"]
    assert last_actions(target, 2) == ["subject.added", "alert.merged"]
    assert incident.history.last().after["incident"] == target.reference
    assert f"Merged the alert into {target.reference}." in flashes(response)


@pytest.mark.parametrize("which", ["hidden", "missing", "same", "blank"])
def test_merging_into_an_incident_that_will_not_do_changes_nothing(
    which, alert, incident, outsider, analyst, client
):
    # given
    hidden = make_incident(by=outsider)
    reference = {
        "hidden": hidden.reference,
        "missing": "INC-1999-0001",
        "same": incident.reference,
        "blank": "",
    }[which]
    before = state()
    client.force_login(analyst)
    # when
    response = client.post(
        f"/alerts/{alert.pk}/merge/", {"incident": reference}, follow=True
    )
    # then
    assert state() == before
    text = " ".join(flashes(response))
    expected = {
        "hidden": "that you can see",
        "missing": "that you can see",
        "same": "already on",
        "blank": "required",
    }[which]
    assert expected in text
    # a hidden incident reads exactly like a missing one
    if which in ("hidden", "missing"):
        assert text == f"There is no incident {reference} that you can see."


def test_dismissing_records_the_reason(alert, incident, analyst, client):
    client.force_login(analyst)
    client.post(f"/alerts/{alert.pk}/dismiss/", {"reason": "  Our own load test. "})
    alert.refresh_from_db()
    assert alert.status == "dismissed"
    assert alert.dismissed_reason == "Our own load test."
    entry = incident.history.last()
    assert (entry.action, entry.reason) == ("alert.dismissed", "Our own load test.")


@pytest.mark.parametrize("reason", ["", "   "])
def test_dismissing_without_a_reason_changes_nothing(reason, alert, analyst, client):
    before = state()
    client.force_login(analyst)
    response = client.post(
        f"/alerts/{alert.pk}/dismiss/", {"reason": reason}, follow=True
    )
    assert state() == before
    assert "reason is required" in " ".join(flashes(response))


@pytest.mark.parametrize("act", ["promote", "merge", "dismiss"])
def test_an_alert_is_handled_only_once(act, alert, target, analyst, client):
    # given
    alerts.alert_dismiss(alert=alert, by=analyst, reason="Noise.")
    before = state()
    client.force_login(analyst)
    data = {"incident": target.reference, "reason": "Again."}
    # when
    response = client.post(f"/alerts/{alert.pk}/{act}/", data, follow=True)
    # then
    assert state() == before
    assert "already dismissed" in " ".join(flashes(response))


@pytest.mark.parametrize("act", ["promote", "merge", "dismiss"])
def test_readers_cannot_act_in_the_browser(act, alert, target, reviewer, client):
    before = state()
    client.force_login(reviewer)
    data = {"incident": target.reference, "reason": "No."}
    response = client.post(f"/alerts/{alert.pk}/{act}/", data, follow=True)
    assert state() == before
    assert "cannot change incidents" in " ".join(flashes(response))


@pytest.mark.parametrize("act", ["promote", "merge", "dismiss"])
def test_outsiders_get_404_in_the_browser(act, alert, outsider, client):
    before = state()
    client.force_login(outsider)
    response = client.post(f"/alerts/{alert.pk}/{act}/", {"reason": "x"})
    assert response.status_code == 404
    assert state() == before


def test_the_queue_keeps_its_filters_after_an_act(alert, analyst, client):
    client.force_login(analyst)
    response = client.post(
        f"/alerts/{alert.pk}/promote/", {"query": "status=new&source=hydra-watch"}
    )
    assert response["Location"] == "/alerts/?status=new&source=hydra-watch"


# ---- Acts through the API ------------------------------------------------------------

API_ACTS = [
    ("promote", {}, "promoted"),
    ("merge", {"incident": "{target}"}, "merged"),
    ("dismiss", {"reason": "Benign."}, "dismissed"),
]
CALLERS = [
    ("anonymous", "write", 401),
    ("outsider", "write", 404),
    ("reviewer", "write", 403),
    ("service_user", "write", 403),
    ("analyst", "ingest", 403),
    ("analyst", "read", 403),
    ("analyst", "write", 200),
    ("counsel", "write", 200),
    ("admin", "write", 200),
]


@pytest.mark.parametrize(("caller", "scope", "expected"), CALLERS)
@pytest.mark.parametrize(("act", "data", "status"), API_ACTS)
def test_api_acts_role_matrix(
    caller, scope, expected, act, data, status, alert, target, request, api
):
    # given
    client = (
        api() if caller == "anonymous" else api(request.getfixturevalue(caller), scope)
    )
    data = {k: v.format(target=target.reference) for k, v in data.items()}
    before = state()
    # when
    response = client.post(f"/api/v1/alerts/{alert.pk}/{act}/", data, format="json")
    # then
    assert response.status_code == expected, response.content
    if expected == 200:
        assert response.json()["status"] == status
        assert response.json()["handled_by"] == request.getfixturevalue(caller).username
        assert HistoryEntry.objects.filter(action=f"alert.{status}").exists()
    else:
        assert set(response.json()) == {"detail", "errors"}
        assert state() == before


def test_api_acts_on_a_handled_alert_answer_409(alert, target, analyst, api):
    client = api(analyst)
    assert client.post(f"/api/v1/alerts/{alert.pk}/promote/").status_code == 200
    before = state()
    for act, data in [
        ("promote", {}),
        ("merge", {"incident": target.reference}),
        ("dismiss", {"reason": "Late."}),
    ]:
        response = client.post(f"/api/v1/alerts/{alert.pk}/{act}/", data, format="json")
        assert response.status_code == 409, response.content
        assert "already promoted" in response.json()["detail"]
    assert state() == before


def test_api_merge_into_a_hidden_incident_answers_404(alert, outsider, analyst, api):
    hidden = make_incident(by=outsider)
    before = state()
    response = api(analyst).post(
        f"/api/v1/alerts/{alert.pk}/merge/",
        {"incident": hidden.reference},
        format="json",
    )
    assert response.status_code == 404
    assert state() == before


def test_merging_into_an_incident_with_the_same_alert_answers_409(
    alert, target, analyst, api
):
    # given: a tool that sees only `target` sent the same key there
    tool = UserFactory(username="second-detector", role="service")
    membership_add(incident=target, user=tool, by=analyst)
    twin = receive(tool, target)
    assert (twin.incident, twin.external_id) == (target, alert.external_id)
    before = state()
    # when
    response = api(analyst).post(
        f"/api/v1/alerts/{alert.pk}/merge/",
        {"incident": target.reference},
        format="json",
    )
    # then
    assert response.status_code == 409, response.content
    assert "already has alert hydra-watch (cluster-1)" in response.json()["detail"]
    assert state() == before


def test_api_dismiss_needs_a_reason(alert, analyst, api):
    before = state()
    response = api(analyst).post(
        f"/api/v1/alerts/{alert.pk}/dismiss/", {"reason": ""}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "reason"
    assert state() == before


# ---- Query counts ---------------------------------------------------------------------


def count_queries(fetch) -> int:
    fetch()
    with CaptureQueriesContext(connection) as queries:
        response = fetch()
    assert response.status_code == 200
    return len(queries)


def grow(by, incident, start: int, n: int) -> None:
    for i in range(start, start + n):
        receive(
            by,
            incident if i % 2 else None,
            external_id=f"grow-{i}",
            subjects=[{"kind": "account", "value": f"acct_{i}"}],
        )


@pytest.mark.parametrize(
    "url", [QUEUE, f"{QUEUE}?status=all", "/api/v1/alerts/", "/incidents/{ref}/"]
)
def test_alert_pages_cost_the_same_for_few_or_many_alerts(
    url, incident, admin, client, api
):
    url = url.format(ref=incident.reference)
    if url.startswith("/api/"):
        fetch_client = api(admin, "read")
    else:
        client.force_login(admin)
        fetch_client = client
    grow(admin, incident, 0, 2)
    small = count_queries(lambda: fetch_client.get(url))
    grow(admin, incident, 2, 12)
    large = count_queries(lambda: fetch_client.get(url))
    assert large == small
