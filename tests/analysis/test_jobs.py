"""Analysis jobs: queued, computed by the task, kept as evidence with custody on every
batch read, recovered when a worker dies, and a cluster's accounts added as subjects."""

import hashlib
import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.models import User
from analysis import engine
from analysis.models import Analysis
from analysis.services import (
    analysis_compute,
    analysis_request,
    analysis_subjects_add,
)
from analysis.tasks import analysis_compute_task
from config.canonical import canonical_json
from config.errors import Conflict, InvalidInput, NotAllowed
from evidence.models import CustodyEvent, Evidence, QueryLogBatch
from evidence.services.items import evidence_withdraw
from evidence.services.storage import blob_chunks
from incidents.models import HistoryEntry, Subject
from jobs.services import job_recover_stale
from tests.analysis.conftest import RING, ingest, make_stale


def _history(incident, action: str):
    return HistoryEntry.objects.filter(incident=incident, action=action)


def test_a_request_is_queued_with_cleaned_parameters_and_recorded(logged, analyst):
    analysis = analysis_request(incident=logged, by=analyst)
    assert (analysis.status, analysis.progress) == ("queued", 0)
    assert analysis.parameters == engine.analysis_parameters_clean(None)
    assert (
        analysis.parameters_sha256
        == hashlib.sha256(canonical_json(analysis.parameters)).hexdigest()
    )
    assert analysis.code_version == engine.CODE_VERSION
    assert _history(logged, "analysis.requested").count() == 1


def test_a_finished_analysis_is_kept_as_evidence_with_its_provenance(done):
    # then: the stored bytes are the canonical JSON of provenance and result
    item = done.evidence
    assert item.kind == Evidence.Kind.ANALYSIS
    assert item.media_type == "application/json"
    content = b"".join(blob_chunks(item.blob))
    assert hashlib.sha256(content).hexdigest() == item.sha256
    document = json.loads(content)
    assert canonical_json(document) == content  # sorted keys, no whitespace
    assert document["analysis"] == done.pk
    assert document["code_version"] == done.code_version == engine.CODE_VERSION
    assert document["parameters"] == done.parameters
    assert document["result"] == done.result
    # the batches read, with the Merkle roots they had when the job started
    batches = QueryLogBatch.objects.filter(incident=done.incident).order_by("id")
    assert [(b["id"], b["merkle_root"], b["rows"]) for b in done.batches] == [
        (b.pk, b.merkle_root, b.rows) for b in batches
    ]
    assert document["batches"] == done.batches
    assert (done.progress, done.stage, done.attempts) == (100, "Done", 1)
    assert _history(done.incident, "analysis.done").get().after["sha256"] == item.sha256


def test_every_batch_read_gets_an_analysed_custody_event(done):
    batches = QueryLogBatch.objects.filter(incident=done.incident)
    for batch in batches:
        event = CustodyEvent.objects.get(evidence=batch.evidence, action="analysed")
        assert event.actor == done.requested_by
        assert event.sha256_observed == batch.evidence.sha256
        assert event.details["analysis"] == done.pk
        assert event.details["tool_version"] == done.code_version
        assert event.details["parameters_sha256"] == done.parameters_sha256
        assert event.details["analysis_sha256"] == done.evidence.sha256
    # the result item itself starts its own chain
    assert done.evidence.custody.get().action == "received"


def test_the_planted_ring_is_one_cluster_and_benign_accounts_are_not(done):
    clusters = done.result["clusters"]
    assert done.clusters_count == len(clusters) >= 1
    ring = next(c for c in clusters if set(RING) & set(c["accounts"]))
    assert set(ring["accounts"]) == set(RING)
    assert ring["reasons"]
    assert all(
        not a["account_id"].startswith("user-") or a["cluster"] is None
        for a in done.result["accounts"]
    )


def test_computing_twice_changes_nothing(done):
    events = CustodyEvent.objects.count()
    assert analysis_compute(analysis_id=done.pk) is None
    after = Analysis.objects.get(pk=done.pk)
    assert (after.attempts, after.evidence_id) == (done.attempts, done.evidence_id)
    assert CustodyEvent.objects.count() == events
    assert Evidence.objects.filter(kind="analysis").count() == 1


def test_a_job_whose_worker_died_runs_again_over_the_same_batches(
    logged, analyst, service_user, django_capture_on_commit_callbacks
):
    # given: a worker fixed the two batches, then died; a third batch arrives later
    analysis = analysis_request(incident=logged, by=analyst)
    first = [
        {"id": b.pk, "evidence": b.evidence_id, "exhibit": b.evidence.exhibit,
         "rows": b.rows, "merkle_root": b.merkle_root, "body_sha256": b.body_sha256}
        for b in QueryLogBatch.objects.filter(incident=logged).order_by("id")
    ]  # fmt: skip
    Analysis.objects.filter(pk=analysis.pk).update(batches=first)
    make_stale(analysis, attempts=1)
    late = ingest(
        logged,
        service_user,
        [{"timestamp": "2026-03-09T10:00:00Z", "account_id": "late-comer"}],
    )
    # when: the sweeper runs (and the eager task computes the re-queued job)
    with django_capture_on_commit_callbacks(execute=True):
        assert job_recover_stale(model=Analysis) == [analysis.pk]
    # then
    analysis.refresh_from_db()
    assert (analysis.status, analysis.attempts) == ("done", 2)
    assert analysis.batches == first
    assert "late-comer" not in {a["account_id"] for a in analysis.result["accounts"]}
    assert not CustodyEvent.objects.filter(evidence=late.evidence, action="analysed")


def test_a_job_that_keeps_dying_ends_failed_with_the_reason(logged, analyst):
    analysis = analysis_request(incident=logged, by=analyst)
    make_stale(analysis, attempts=Analysis.max_attempts, stage="Linking accounts")
    assert job_recover_stale(model=Analysis) == [analysis.pk]
    analysis.refresh_from_db()
    assert analysis.status == "failed"
    assert "worker stopped during 'Linking accounts'" in analysis.error
    assert analysis.evidence is None
    assert _history(logged, "analysis.failed").get().reason == analysis.error


def test_a_live_job_is_not_taken_twice(logged, analyst):
    analysis = analysis_request(incident=logged, by=analyst)
    Analysis.objects.filter(pk=analysis.pk).update(
        status="running", attempts=1, heartbeat_at=timezone.now()
    )
    assert analysis_compute(analysis_id=analysis.pk) is None
    assert job_recover_stale(model=Analysis) == []
    assert Analysis.objects.get(pk=analysis.pk).attempts == 1


def test_a_queued_job_no_worker_took_is_sent_again(
    logged, analyst, django_capture_on_commit_callbacks
):
    analysis = analysis_request(incident=logged, by=analyst)  # its message was lost
    old = timezone.now() - timedelta(seconds=settings.ANALYSIS_STALE_SECONDS + 60)
    Analysis.objects.filter(pk=analysis.pk).update(requested_at=old)
    with django_capture_on_commit_callbacks(execute=True):
        assert job_recover_stale(model=Analysis) == [analysis.pk]
    assert Analysis.objects.get(pk=analysis.pk).status == "done"


def test_a_failure_in_the_worker_fails_the_job_with_a_clear_error(
    logged, analyst, django_capture_on_commit_callbacks
):
    # given: the requester lost the right to add evidence before the job ran
    analysis = analysis_request(incident=logged, by=analyst)
    User.objects.filter(pk=analyst.pk).update(role=User.Role.REVIEWER)
    # when
    analysis_compute_task.delay(analysis.pk)
    # then: failed, with the reason, and nothing half-stored
    analysis.refresh_from_db()
    assert analysis.status == "failed"
    assert analysis.error.startswith("NotAllowed: ")
    assert analysis.evidence is None and analysis.finished_at is not None
    assert not Evidence.objects.filter(kind="analysis").exists()
    assert not CustodyEvent.objects.filter(action="analysed").exists()


def test_the_task_ignores_a_job_that_is_gone(db):
    analysis_compute_task.delay(999_999)  # returns quietly


def test_withdrawn_batches_are_not_read(
    logged, analyst, django_capture_on_commit_callbacks
):
    first = QueryLogBatch.objects.filter(incident=logged).order_by("id").first()
    evidence_withdraw(evidence=first.evidence, by=analyst, reason="Wrong tenant")
    with django_capture_on_commit_callbacks(execute=True):
        analysis = analysis_request(incident=logged, by=analyst)
    analysis.refresh_from_db()
    assert first.pk not in [b["id"] for b in analysis.batches]
    assert len(analysis.batches) == 1


def test_an_incident_without_query_logs_cannot_be_analysed(incident, analyst):
    with pytest.raises(InvalidInput, match="no query logs"):
        analysis_request(incident=incident, by=analyst)
    assert not Analysis.objects.exists()


def test_unknown_parameters_are_refused_naming_the_key(logged, analyst):
    with pytest.raises(InvalidInput) as refused:
        analysis_request(incident=logged, by=analyst, parameters={"bogus_knob": 1})
    assert "bogus_knob" in str(refused.value.detail) + json.dumps(refused.value.errors)
    assert not Analysis.objects.exists()


def test_a_clusters_accounts_become_subjects_once(done, counsel):
    ring = next(c for c in done.result["clusters"] if RING[0] in c["accounts"])
    # given: one member already is a subject
    Subject.objects.create(
        incident=done.incident, kind="account", value=RING[0], added_by=counsel
    )
    # when
    counts = analysis_subjects_add(analysis=done, cluster_id=ring["id"], by=counsel)
    # then
    assert counts == {"added": len(RING) - 1, "existing": 1, "skipped": 0}
    values = set(
        Subject.objects.filter(incident=done.incident, kind="account").values_list(
            "value", flat=True
        )
    )
    assert values == set(RING)
    assert _history(done.incident, "subject.added").count() == len(RING) - 1
    summary = _history(done.incident, "analysis.subjects_added").get()
    assert summary.actor == counsel and summary.after["added"] == len(RING) - 1
    # again: nothing new
    again = analysis_subjects_add(analysis=done, cluster_id=ring["id"], by=counsel)
    assert again == {"added": 0, "existing": len(RING), "skipped": 0}


def test_who_may_not_add_subjects_changes_nothing(done, reviewer):
    history = HistoryEntry.objects.count()
    with pytest.raises(NotAllowed):
        analysis_subjects_add(analysis=done, cluster_id="C1", by=reviewer)
    assert not Subject.objects.exists()
    assert HistoryEntry.objects.count() == history


def test_subjects_need_a_finished_analysis_and_a_real_cluster(done, logged, analyst):
    with pytest.raises(InvalidInput):
        analysis_subjects_add(analysis=done, cluster_id="C999", by=analyst)
    queued = analysis_request(incident=logged, by=analyst)
    with pytest.raises(Conflict):
        analysis_subjects_add(analysis=queued, cluster_id="C1", by=analyst)
    assert not Subject.objects.exists()


def test_the_beat_schedule_sweeps_stale_analyses(logged, analyst):
    from config.celery import app

    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "jobs.tasks.job_recover_stale_task" in tasks
    app.loader.import_default_modules()
    assert "jobs.tasks.job_recover_stale_task" in app.tasks
    # the one recovery task of every job kind covers analyses
    analysis = analysis_request(incident=logged, by=analyst)
    make_stale(analysis, attempts=Analysis.max_attempts)
    swept = app.tasks["jobs.tasks.job_recover_stale_task"].apply().get()
    assert swept["analysis"] == [analysis.pk]
    assert Analysis.objects.get(pk=analysis.pk).status == "failed"


def test_a_database_error_gives_the_job_back_so_the_retry_runs_it(
    logged, analyst, monkeypatch
):
    # given: the engine hits a transient database error once
    from django.db import OperationalError

    analysis = analysis_request(incident=logged, by=analyst)
    real_run, calls = engine.analysis_run, []

    def flaky_run(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real_run(**kwargs)

    monkeypatch.setattr(engine, "analysis_run", flaky_run)
    # when: the first try fails; the job is queued again, not left "running"
    with pytest.raises(OperationalError):
        analysis_compute_task.apply(args=[analysis.pk], throw=True, retries=3)
    analysis.refresh_from_db()
    assert (analysis.status, analysis.heartbeat_at) == ("queued", None)
    # then: the retry takes it at once and finishes it
    analysis_compute_task.apply(args=[analysis.pk])
    analysis.refresh_from_db()
    assert (analysis.status, len(calls)) == ("done", 2)


def test_the_sweeper_never_touches_a_finished_job(done):
    old = timezone.now() - timedelta(seconds=settings.ANALYSIS_STALE_SECONDS + 60)
    Analysis.objects.filter(pk=done.pk).update(heartbeat_at=old, requested_at=old)
    assert job_recover_stale(model=Analysis) == []
    assert Analysis.objects.get(pk=done.pk).status == "done"
