"""Dossier jobs through the API: queued at once, rendered by the task, stored as
evidence with custody, recovered when a worker dies."""

import hashlib
import threading
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import OperationalError, connection
from django.utils import timezone

from dossiers import services
from dossiers.models import Dossier
from dossiers.services import dossier_render, dossier_request
from dossiers.tasks import dossier_render_task
from evidence.models import CustodyEvent, Evidence
from incidents.models import HistoryEntry
from jobs.services import job_fail, job_finish, job_progress, job_recover_stale
from jobs.tasks import job_recover_stale_task
from tests.evidence.conftest import upload


@pytest.fixture(autouse=True)
def _isolated_files(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.DOSSIER_SIGNING_KEY_PATH = tmp_path / "keys" / "signing.key"
    settings.DOSSIER_SIGNING_CERT_PATH = tmp_path / "keys" / "signing.crt"


@pytest.fixture
def case(incident, analyst, counsel, api):
    client = api(analyst)
    upload(client, incident.reference, b"gateway export", "export.csv")
    upload(client, incident.reference, b"counsel memo", "memo.txt", privileged="true")
    client.post(
        f"/api/v1/incidents/{incident.reference}/notes/",
        {"body": "Reseller contacted <img src=http://evil.example/x>"},
        format="json",
    )
    return incident


def request_dossier(client, incident, **body):
    return client.post(
        f"/api/v1/incidents/{incident.reference}/dossiers/", body, format="json"
    )


def test_request_answers_202_queued(case, counsel, api):
    response = request_dossier(api(counsel), case)
    assert response.status_code == 202
    body = response.json()
    assert (body["status"], body["progress"]) == ("queued", 0)
    assert body["url"].endswith(f"/api/v1/dossiers/{body['id']}/")
    assert body["pdf_url"] is None and body["sha256"] is None


def test_signed_dossier_is_rendered_stored_and_recorded(
    case, counsel, api, django_capture_on_commit_callbacks
):
    # given
    call_command("create_signing_identity", "--if-missing")
    client = api(counsel)
    # when: the request commits, the (eager) task renders it
    with django_capture_on_commit_callbacks(execute=True):
        response = request_dossier(client, case, sign=True, bates_prefix="HYDRA")
    job = client.get(response.json()["url"]).json()
    # then
    assert job["status"] == "done", job
    assert job["progress"] == 100
    assert job["bates_first"] == "HYDRA-000001"
    assert job["bates_last"] == f"HYDRA-{job['pages']:06d}"
    pdf = client.get(job["pdf_url"])
    content = b"".join(pdf.streaming_content)
    assert pdf["Content-Type"] == "application/pdf"
    assert hashlib.sha256(content).hexdigest() == job["sha256"]
    dossier = Dossier.objects.get(pk=job["id"])
    assert dossier.evidence.kind == Evidence.Kind.DOSSIER
    assert dossier.evidence.sha256 == job["sha256"]
    exported = CustodyEvent.objects.filter(
        action="exported", details__dossier=dossier.pk
    )
    # the non-privileged exhibit only; the privileged memo is withheld
    assert sorted(e.evidence.original_name for e in exported) == ["export.csv"]
    downloads = CustodyEvent.objects.filter(
        evidence=dossier.evidence, action="downloaded"
    )
    assert downloads.count() == 1


def test_rendering_twice_changes_nothing(
    case, counsel, api, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job = request_dossier(api(counsel), case).json()
    before = Dossier.objects.get(pk=job["id"])
    assert dossier_render(dossier_id=job["id"]) is None
    after = Dossier.objects.get(pk=job["id"])
    assert (after.sha256, after.attempts, after.evidence_id) == (
        before.sha256,
        before.attempts,
        before.evidence_id,
    )


def test_a_job_whose_worker_died_is_rendered_again(
    case, counsel, api, django_capture_on_commit_callbacks
):
    job = request_dossier(api(counsel), case).json()
    # given: a worker took the job and died mid-render
    Dossier.objects.filter(pk=job["id"]).update(
        status="rendering",
        attempts=1,
        stage="Laying out the document",
        heartbeat_at=timezone.now() - timedelta(hours=1),
    )
    # when: the recovery job runs (and the eager task renders the re-queued job)
    with django_capture_on_commit_callbacks(execute=True):
        assert job_recover_stale(model=Dossier) == [job["id"]]
    # then
    dossier = Dossier.objects.get(pk=job["id"])
    assert (dossier.status, dossier.attempts) == ("done", 2)


def test_a_job_that_keeps_dying_ends_failed_with_the_reason(case, counsel, api):
    job = request_dossier(api(counsel), case).json()
    Dossier.objects.filter(pk=job["id"]).update(
        status="rendering",
        attempts=Dossier.max_attempts,
        stage="Laying out the document",
        heartbeat_at=timezone.now() - timedelta(hours=1),
    )
    job_recover_stale(model=Dossier)
    dossier = Dossier.objects.get(pk=job["id"])
    assert dossier.status == "failed"
    assert "worker stopped" in dossier.error


def test_a_live_job_is_not_taken_twice(case, counsel, api):
    job = request_dossier(api(counsel), case).json()
    Dossier.objects.filter(pk=job["id"]).update(
        status="rendering", attempts=1, heartbeat_at=timezone.now()
    )
    assert dossier_render(dossier_id=job["id"]) is None
    assert job_recover_stale(model=Dossier) == []
    assert Dossier.objects.get(pk=job["id"]).attempts == 1


def test_signing_without_an_identity_fails_the_job_clearly(
    case, counsel, api, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job = request_dossier(api(counsel), case, sign=True).json()
    dossier = Dossier.objects.get(pk=job["id"])
    assert dossier.status == "failed"
    assert "create_signing_identity" in dossier.error
    assert dossier.evidence is None


def test_pdf_before_done_is_a_conflict(case, counsel, api):
    job = request_dossier(api(counsel), case).json()
    assert api(counsel).get(f"/api/v1/dossiers/{job['id']}/pdf/").status_code == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"bates_prefix": "bad prefix!"}, "bates_prefix"),
        ({"sections": ["gossip"]}, "sections"),
    ],
)
def test_invalid_requests_are_refused(body, field, case, counsel, api):
    response = request_dossier(api(counsel), case, **body)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field
    assert not Dossier.objects.exists()


@pytest.mark.parametrize(
    ("caller", "expected"),
    [("anonymous", 401), ("outsider", 404), ("reviewer", 403), ("service_user", 403)],
)
def test_who_may_request(caller, expected, case, request, api):
    client = api() if caller == "anonymous" else api(request.getfixturevalue(caller))
    assert request_dossier(client, case).status_code == expected
    assert not Dossier.objects.exists()


def test_dossiers_of_a_hidden_incident_are_not_found(case, counsel, outsider, api):
    job = request_dossier(api(counsel), case).json()
    assert api(outsider).get(f"/api/v1/dossiers/{job['id']}/").status_code == 404
    assert api(outsider).get(f"/api/v1/dossiers/{job['id']}/pdf/").status_code == 404


def test_the_answer_to_a_request_is_queued_even_when_a_worker_is_fast(
    case, counsel, api, django_capture_on_commit_callbacks
):
    # the (eager) task finishes the job before the view renders its answer
    with django_capture_on_commit_callbacks(execute=True):
        response = request_dossier(api(counsel), case)
    body = response.json()
    assert (response.status_code, body["status"], body["progress"]) == (
        202,
        "queued",
        0,
    )
    assert Dossier.objects.get().status == "done"


def test_a_database_error_gives_the_job_back_so_the_retry_renders_it(
    case, counsel, monkeypatch
):
    # given: the snapshot hits a transient database error once
    dossier = dossier_request(incident=case, by=counsel)
    real_snapshot, calls = services.build_snapshot, []

    def flaky_snapshot(dossier):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real_snapshot(dossier)

    monkeypatch.setattr(services, "build_snapshot", flaky_snapshot)
    # when: the first try fails; the job is queued again, not left rendering
    with pytest.raises(OperationalError):
        dossier_render_task.apply(args=[dossier.pk], throw=True, retries=3)
    dossier.refresh_from_db()
    assert (dossier.status, dossier.heartbeat_at) == ("queued", None)
    # then: the retry takes it at once and finishes it
    dossier_render_task.apply(args=[dossier.pk])
    dossier.refresh_from_db()
    assert (dossier.status, len(calls)) == ("done", 2)


def _forgotten(dossier_id: int, settings) -> None:
    """The dossier was requested longer ago than the stale period."""
    old = timezone.now() - timedelta(seconds=settings.DOSSIER_STALE_SECONDS + 60)
    Dossier.objects.filter(pk=dossier_id).update(requested_at=old)


def test_a_dossier_whose_message_was_lost_is_sent_again_and_rendered(
    case, counsel, api, settings, django_capture_on_commit_callbacks
):
    # given: the request committed but its message never reached a worker
    client = api(counsel)
    job = request_dossier(client, case).json()
    assert job_recover_stale(model=Dossier) == []  # not yet: it may only be waiting
    _forgotten(job["id"], settings)
    # when: the beat's recovery task runs (and the eager task renders what it sends)
    with django_capture_on_commit_callbacks(execute=True):
        swept = job_recover_stale_task.delay().get()
    # then
    assert swept["dossier"] == [job["id"]]
    answer = client.get(job["url"]).json()
    assert (answer["status"], answer["progress"]) == ("done", 100)
    assert Dossier.objects.get(pk=job["id"]).attempts == 1


def test_sending_a_dossier_again_never_renders_it_twice(
    case, counsel, api, settings, django_capture_on_commit_callbacks
):
    # given: a dossier whose message is late, not lost
    with django_capture_on_commit_callbacks() as first_message:
        job = request_dossier(api(counsel), case).json()
    _forgotten(job["id"], settings)
    # when: the sweeper sends it again, and runs again before a worker took it
    with django_capture_on_commit_callbacks() as resent:
        assert job_recover_stale(model=Dossier) == [job["id"]]
        assert job_recover_stale(model=Dossier) == []  # one send per stale period
    assert len(first_message) == len(resent) == 1
    # ...and every message arrives: the re-sent one, the late one, a redelivery
    for deliver in [*resent, *first_message, *resent]:
        deliver()
    # then: rendered once
    dossier = Dossier.objects.get(pk=job["id"])
    assert (dossier.status, dossier.attempts) == ("done", 1)
    assert Evidence.objects.filter(kind=Evidence.Kind.DOSSIER).count() == 1
    assert HistoryEntry.objects.filter(action="dossier.done").count() == 1
    exported = CustodyEvent.objects.filter(
        action="exported", details__dossier=job["id"]
    )
    assert exported.count() == 1  # the one non-privileged exhibit, once
    assert job_recover_stale(model=Dossier) == []  # a finished job is left alone


def _wait_until_a_session_waits_for_a_lock() -> None:
    """PostgreSQL shows a session that waits for a row lock in pg_locks. SQLite has no
    such view; there the whole database is locked (IMMEDIATE transactions), so the
    other thread is given a moment to reach it."""
    if connection.vendor != "postgresql":
        time.sleep(0.5)
        return
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)


@pytest.mark.django_db(transaction=True)
def test_a_failure_reported_while_a_dossier_is_being_finished_never_undoes_it(
    incident, counsel, api
):
    # given: a worker is rendering a dossier (the PDF item is already stored)
    upload(api(counsel), incident.reference, b"%PDF-1.7 rendered", "dossier.pdf")
    pdf = Evidence.objects.get(original_name="dossier.pdf")
    dossier = Dossier.objects.create(
        incident=incident,
        requested_by=counsel,
        bates_prefix="HYDRA",
        status=Dossier.Status.RENDERING,
        attempts=1,
        heartbeat_at=timezone.now(),
    )
    finishing = threading.Event()
    outcome, errors = {}, []

    def finish() -> None:
        def store(locked: Dossier) -> None:
            finishing.set()
            _wait_until_a_session_waits_for_a_lock()  # the failure, on our lock
            locked.evidence = pdf

        try:
            outcome["finished"] = job_finish(
                model=Dossier, job_id=dossier.pk, store=store
            )
        except Exception as error:  # surfaced below; a thread cannot fail the test
            errors.append(error)
        finally:
            connection.close()

    def fail() -> None:
        try:
            assert finishing.wait(10)
            outcome["failed"] = job_fail(
                model=Dossier, job_id=dossier.pk, error="The worker was lost."
            )
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    # when: a failure (a timed-out task, a sweeper) arrives while the worker finishes
    threads = [threading.Thread(target=finish), threading.Thread(target=fail)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then: the failure waited for the finish and left the done job alone
    assert errors == []
    assert outcome["finished"] is not None and outcome["failed"] is False
    dossier.refresh_from_db()
    assert (dossier.status, dossier.error, dossier.evidence_id) == ("done", "", pdf.pk)
    assert not HistoryEntry.objects.filter(action="dossier.failed").exists()


def test_a_worker_that_lost_its_job_does_not_move_it(case, counsel):
    # given: the sweeper queued the job again while its old worker still runs
    dossier = dossier_request(incident=case, by=counsel)
    Dossier.objects.filter(pk=dossier.pk).update(stage="Queued again", attempts=1)
    # when: the old worker reports progress
    job_progress(model=Dossier, job_id=dossier.pk, percent=80, stage="Embedding")
    # then: the queued job is as the sweeper left it
    dossier.refresh_from_db()
    assert (dossier.status, dossier.progress, dossier.stage) == (
        "queued",
        0,
        "Queued again",
    )
