"""A dossier whose worker is SIGKILLed mid-job is finished by another worker once the
recovery task (the beat job) has run. Real processes throughout: gunicorn, two Celery
workers and Redis; the job is held at a known point by a row lock the test takes on
the incident (storing the PDF as evidence locks it), so the kill is never early or
late."""

import hashlib
import time

import redis
from celery import Celery
from django.conf import settings

from tests.factories import UserFactory, make_incident, make_token
from tests.faults.conftest import APP_NAME, TEST_BROKER, admin_connection, wait_for


def recovery_tasks() -> list[str]:
    """The beat jobs that recover stopped jobs, by their Celery names."""
    return sorted(
        entry["task"]
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if "recover" in entry["task"]
    )


def test_a_dossier_whose_worker_is_killed_is_finished_by_another_worker(
    processes, monkeypatch
):
    redis.Redis.from_url(TEST_BROKER).flushdb()  # no message left from an earlier run
    analyst = UserFactory(role="analyst")
    incident = make_incident(by=analyst)
    token = make_token(analyst, "write")
    server = processes.server()
    status, dossier = server.json(
        "POST", f"/api/v1/incidents/{incident.reference}/dossiers/", {}, token
    )
    assert status == 202, dossier
    detail = f"/api/v1/dossiers/{dossier['id']}/"
    stale = {"DOSSIER_STALE_SECONDS": "2", "ANALYSIS_STALE_SECONDS": "2"}
    with admin_connection() as lock, admin_connection() as watch:
        # given: the first worker renders the dossier and waits to store it
        lock.execute("BEGIN")
        lock.execute(
            "SELECT id FROM incidents_incident WHERE id = %s FOR UPDATE", [incident.pk]
        )
        first = processes.worker("worker-1", **stale)

        def blocked():
            return watch.execute(
                "SELECT pid, query FROM pg_stat_activity WHERE application_name = %s "
                "AND wait_event_type = 'Lock'",
                [f"{APP_NAME}-worker-1"],
            ).fetchone()

        waiting = wait_for(
            blocked, timeout=120, every=0.1, what="the worker to store the PDF"
        )
        job = server.json("GET", detail, token=token)[1]
        assert job["status"] == "rendering", (job, waiting, first.output())
        # when: it is killed with SIGKILL, and its database session goes with it
        first.kill()
        watch.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = %s",
            [f"{APP_NAME}-worker-1"],
        )
        lock.execute("ROLLBACK")
    assert server.json("GET", detail, token=token)[1]["status"] == "rendering"
    # when: another worker starts and the recovery job runs once the job is stale
    second = processes.worker("worker-2", **stale)
    time.sleep(2.5)
    # Celery prefers the CELERY_BROKER_URL environment variable (CI sets it for the
    # suite) to an explicit broker: pin it, or the tasks go to another database.
    monkeypatch.setenv("CELERY_BROKER_URL", TEST_BROKER)
    client = Celery(broker=TEST_BROKER)
    for name in recovery_tasks():
        client.send_task(name)

    # then: the second worker finishes it
    def finished():
        body = server.json("GET", detail, token=token)[1]
        return body if body["status"] in ("done", "failed") else None

    try:
        done = wait_for(finished, timeout=180, every=0.5, what="the dossier")
    except AssertionError as error:
        job = server.json("GET", detail, token=token)[1]
        raise AssertionError(f"{error}: {job}\n{second.output()}") from None
    assert done["status"] == "done", done
    assert "dossier_render_task" in second.output()
    status, _, pdf = server.request("GET", f"{detail}pdf/", token=token)
    assert status == 200 and hashlib.sha256(pdf).hexdigest() == done["sha256"]
