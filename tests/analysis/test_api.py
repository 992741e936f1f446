"""Analyses through the API (contract: "Analyses (account linkage)"): who may start
and read them, what a finished one answers, and refusals that change nothing."""

import pytest

from analysis.models import Analysis
from incidents.models import HistoryEntry
from tests.analysis.conftest import RING
from tests.factories import UserFactory


def _client(api, request, caller: str, scope: str = "write"):
    if caller == "anonymous":
        return api()
    return api(request.getfixturevalue(caller), scope)


def start(client, incident, **body):
    return client.post(
        f"/api/v1/incidents/{incident.reference}/analyses/", body, format="json"
    )


@pytest.mark.parametrize(
    ("caller", "expected"),
    [
        ("anonymous", 401),
        ("outsider", 404),
        ("reviewer", 403),
        ("service_user", 403),
        ("analyst", 202),
        ("counsel", 202),
        ("admin", 202),
    ],
)
def test_who_may_start_an_analysis(caller, expected, logged, api, request):
    history = HistoryEntry.objects.count()
    response = start(_client(api, request, caller), logged)
    assert response.status_code == expected, response.content
    if expected == 202:
        body = response.json()
        assert (body["status"], body["progress"]) == ("queued", 0)
        assert body["url"].endswith(f"/api/v1/analyses/{body['id']}/")
        assert Analysis.objects.get().requested_by.username == body["requested_by"]
    else:
        assert not Analysis.objects.exists()
        assert HistoryEntry.objects.count() == history


@pytest.mark.parametrize(("scope", "expected"), [("read", 403), ("ingest", 403)])
def test_a_token_without_write_scope_cannot_start_one(
    scope, expected, logged, analyst, api
):
    assert start(api(analyst, scope), logged).status_code == expected
    assert not Analysis.objects.exists()


@pytest.mark.parametrize(
    ("caller", "expected"),
    [
        ("anonymous", 401),
        ("outsider", 404),
        ("reviewer", 200),
        ("service_user", 403),
        ("analyst", 200),
        ("counsel", 200),
        ("admin", 200),
    ],
)
def test_who_may_read_an_analysis(caller, expected, done, api, request):
    client = _client(api, request, caller, scope="read")
    detail = client.get(f"/api/v1/analyses/{done.pk}/")
    listing = client.get(f"/api/v1/incidents/{done.incident.reference}/analyses/")
    assert (detail.status_code, listing.status_code) == (expected, expected)


def test_a_finished_analysis_answers_its_result(done, reviewer, api):
    body = api(reviewer, "read").get(f"/api/v1/analyses/{done.pk}/").json()
    assert (body["status"], body["progress"], body["error"]) == ("done", 100, "")
    assert body["code_version"] == done.code_version
    assert body["parameters"] == done.parameters
    assert body["evidence"]["id"] == done.evidence_id
    assert body["evidence"]["sha256"] == done.evidence.sha256
    assert body["evidence"]["exhibit"] == done.evidence.exhibit
    assert [b["merkle_root"] for b in body["batches"]] == [
        b["merkle_root"] for b in done.batches
    ]
    ring = next(c for c in body["clusters"] if RING[0] in c["accounts"])
    assert {"id", "accounts", "volume", "reasons", "signals"} <= set(ring)
    assert len(body["accounts"]) == done.result["population"]["accounts"]
    account = body["accounts"][0]
    assert {"account_id", "cluster", "volume", "signals"} <= set(account)
    signal = next(iter(account["signals"].values()))
    assert {"value", "baseline", "explanation"} <= set(signal)


def test_an_unfinished_analysis_has_no_result_yet(logged, analyst, api):
    body = start(api(analyst), logged).json()
    detail = api(analyst).get(body["url"]).json()
    assert detail["status"] == "queued"
    assert detail["evidence"] is None
    assert detail["clusters"] is None and detail["accounts"] is None


def test_the_list_shows_this_incidents_analyses_without_results(done, analyst, api):
    other = UserFactory(role="analyst")
    from tests.factories import make_incident

    make_incident(by=other)  # an incident of someone else, with nothing in it
    body = api(analyst).get(f"/api/v1/incidents/{done.incident.reference}/analyses/")
    assert body.status_code == 200
    data = body.json()
    assert data["count"] == 1
    assert data["results"][0]["id"] == done.pk
    assert data["results"][0]["clusters_count"] == done.clusters_count
    assert "accounts" not in data["results"][0]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"parameters": {"bogus_knob": 1}}, "bogus_knob"),
        ({"parameters": "fast"}, "parameters"),
        ({"parameters": {}, "colour": "red"}, "colour"),
    ],
)
def test_bad_input_is_refused_naming_the_key(body, field, logged, analyst, api):
    response = start(api(analyst), logged, **body)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert any(field in (e.get("field") or "") + e["message"] for e in errors), errors
    assert not Analysis.objects.exists()


def test_an_incident_without_query_logs_is_refused_clearly(incident, analyst, api):
    response = start(api(analyst), incident)
    assert response.status_code == 400
    assert "no query logs" in response.json()["detail"]
    assert not Analysis.objects.exists()


def test_an_analysis_of_a_hidden_incident_is_not_found(done, outsider, api):
    assert api(outsider).get(f"/api/v1/analyses/{done.pk}/").status_code == 404
    assert api(outsider).get("/api/v1/analyses/999999/").status_code == 404


def test_the_schema_describes_the_analysis_endpoints(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    assert "post" in paths["/api/v1/incidents/{reference}/analyses/"]
    assert "get" in paths["/api/v1/incidents/{reference}/analyses/"]
    assert "get" in paths["/api/v1/analyses/{id}/"]


def test_the_answer_to_a_request_is_queued_even_when_a_worker_is_fast(
    logged, analyst, api, django_capture_on_commit_callbacks
):
    # the (eager) task finishes the job before the view renders its answer
    with django_capture_on_commit_callbacks(execute=True):
        response = start(api(analyst), logged)
    body = response.json()
    assert (response.status_code, body["status"], body["progress"]) == (
        202,
        "queued",
        0,
    )
    assert Analysis.objects.get().status == "done"
