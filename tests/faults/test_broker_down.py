"""With the broker down (its URL points at a closed loopback port), a job request is
answered 503 and stores nothing: no job row, no history entry. A job is never kept
in a queue no worker will hear of; with the broker back the same request is taken."""

import gzip

from analysis.models import Analysis
from dossiers.models import Dossier
from incidents.models import HistoryEntry
from tests.factories import UserFactory, make_incident, make_token
from tests.faults.conftest import closed_port

ROWS = b"".join(
    b'{"timestamp": "2026-03-01T10:%02d:00Z", "account_id": "acct-%d"}\n' % (n, n % 3)
    for n in range(30)
)


def test_a_job_requested_while_the_broker_is_down_is_refused_with_nothing_stored(
    processes,
):
    # given: a case with query logs, and a server whose broker port is closed
    analyst = UserFactory(role="analyst")
    detector = UserFactory(role="service")
    incident = make_incident(by=analyst, members=[detector])
    token, ingest = make_token(analyst, "write"), make_token(detector, "ingest")
    down = processes.server(CELERY_BROKER_URL=f"redis://127.0.0.1:{closed_port()}/0")
    status, _ = down.json(
        "POST",
        f"/api/v1/incidents/{incident.reference}/query-logs/",
        gzip.compress(ROWS),
        ingest,
        {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"},
    )
    assert status == 201  # ingestion needs no broker
    history = HistoryEntry.objects.count()
    for jobs, model in (("dossiers", Dossier), ("analyses", Analysis)):
        path = f"/api/v1/incidents/{incident.reference}/{jobs}/"
        # when
        status, headers, raw = down.request("POST", path, {}, token=token)
        # then
        assert status == 503, (jobs, raw)
        assert b"try again" in raw.lower()
        assert "Retry-After" in headers
        assert model.objects.count() == 0
        assert HistoryEntry.objects.count() == history
    # when: the broker answers again
    up = processes.server("server-up")
    for jobs, model in (("dossiers", Dossier), ("analyses", Analysis)):
        status, body = up.json(
            "POST", f"/api/v1/incidents/{incident.reference}/{jobs}/", {}, token
        )
        # then
        assert status == 202, body
        assert model.objects.get().status == "queued"
