"""A query-log load whose database connection is terminated while its COPY runs
(`pg_terminate_backend` from another connection), inside the load's transaction after
the batch row was written. The test holds the row table so the COPY is caught at the
same point on any machine: timing it against a fast COPY was flaky under load."""

import threading

import orjson

from evidence.models import (
    Blob,
    CustodyEvent,
    Evidence,
    QueryLogBatch,
    QueryLogFacet,
    QueryLogRow,
)
from tests.factories import UserFactory, make_incident, make_token
from tests.faults.conftest import APP_NAME, admin_connection, wait_for

ROWS = 30_000


def ndjson(rows: int) -> bytes:
    return b"".join(
        orjson.dumps(
            {
                "timestamp": f"2026-03-01T{(n // 3600) % 24:02d}:{(n // 60) % 60:02d}:{n % 60:02d}Z",
                "account_id": f"acct-{n % 97}",
                "ip": f"203.0.113.{n % 250}",
                "model": "frontier-1",
                "prompt": f"Explain step {n} of the procedure in full detail.",
                "prompt_tokens": n % 500,
                "params": {"temperature": 0, "logprobs": 5},
            }
        )
        + b"\n"
        for n in range(rows)
    )


def kill_the_copy(holding: threading.Event) -> int:
    """Hold the row table so the server's COPY waits inside PostgreSQL, then terminate
    its connection: the COPY is cut off mid-load however fast the machine is."""
    with admin_connection() as holder, admin_connection() as admin:
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE evidence_querylogrow IN SHARE MODE")
        holding.set()

        def copying():
            return admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s "
                "AND state = 'active' AND query LIKE 'COPY %%'",
                [f"{APP_NAME}-server"],
            ).fetchone()

        try:
            (pid,) = wait_for(copying, timeout=60, every=0.01, what="the COPY")
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        finally:
            holder.execute("ROLLBACK")
        return pid


def test_a_load_cut_off_mid_copy_stores_nothing_and_its_retry_stores_it_once(
    processes,
):
    # given: a detector and a batch large enough that its COPY runs for a while
    analyst = UserFactory(role="analyst")
    detector = UserFactory(role="service")
    incident = make_incident(by=analyst, members=[detector])
    token = make_token(detector, "ingest")
    server = processes.server()
    path = f"/api/v1/incidents/{incident.reference}/query-logs/"
    body = ndjson(ROWS)
    headers = {"Content-Type": "application/x-ndjson", "Idempotency-Key": "load-1"}
    killed = []
    holding = threading.Event()
    killer = threading.Thread(target=lambda: killed.append(kill_the_copy(holding)))
    killer.start()
    assert holding.wait(timeout=30)
    # when: the connection is terminated while the rows stream into PostgreSQL
    status, answer_headers, raw = server.request(
        "POST", path, body, headers, token=token
    )
    killer.join()
    # then: a clean "try again", and not a trace of the batch
    assert killed, "the COPY was never seen running"
    assert status == 503, raw
    assert orjson.loads(raw)["detail"]
    assert "Retry-After" in answer_headers
    assert QueryLogBatch.objects.count() == 0
    assert QueryLogRow.objects.count() == 0
    assert QueryLogFacet.objects.count() == 0
    assert Evidence.objects.count() == 0
    assert CustodyEvent.objects.count() == 0
    assert Blob.objects.count() == 0
    # when: the detector sends the same body with the same key again, twice
    first_status, first = server.json("POST", path, body, token, headers)
    again_status, again = server.json("POST", path, body, token, headers)
    # then: stored once, and the second resend is answered with the same batch
    assert (first_status, again_status) == (201, 200), (first, again)
    assert first["rows"] == ROWS and again["id"] == first["id"]
    assert QueryLogBatch.objects.count() == 1
    assert QueryLogRow.objects.count() == ROWS
    assert QueryLogFacet.objects.filter(batch_id=first["id"]).exists()
    assert Evidence.objects.count() == 1
    assert CustodyEvent.objects.filter(action="received").count() == 1
