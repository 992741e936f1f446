"""The lifecycle of every job kind, written once.

    job_send ─▶ queued ─job_claim─▶ live ─job_finish─▶ done
                  ▲                  │  └──job_fail───▶ failed
                  └──job_release─────┘  (and job_recover_stale, below)

Every change of state locks the job's row (or is one conditional UPDATE), and none
leaves a finished job: a job that is done or failed stays so, whoever comes second.
The lock order is the job row first, then whatever the kind's own work locks (its
incident, evidence, the custody ledger), as every writer's (incidents/locks.py).

Messages are at-least-once: a job may be sent twice (a re-send by the sweeper, a
Celery redelivery, a retry). The claim is what makes that harmless: it takes a job
only when it is queued, or live with a worker that has stopped beating.
"""

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from django.apps import apps
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string
from kombu.exceptions import OperationalError as BrokerError

from incidents.history import history_record
from jobs.models import Job

logger = logging.getLogger(__name__)
J = TypeVar("J", bound=Job)
ERROR_MAX = 2000


class JobCannotRun(Exception):
    """Raised by a claim's `prepare` when the job can never run; the message is the
    reason the user reads on the failed job."""


def job_kinds() -> list[type[Job]]:
    """Every concrete job model of the installed apps."""
    return [model for model in apps.get_models() if issubclass(model, Job)]


def job_send(*, job: Job, robust: bool = False) -> None:
    """Send the job's task once the current transaction commits (at once outside one).
    `robust`: a broker error is logged instead of raised; the job stays queued and
    the recovery task sends it again."""
    model, job_id = type(job), job.pk

    def send() -> None:
        try:
            import_string(model.task).delay(job_id)
        except BrokerError as error:
            if not robust:
                raise
            logger.warning("%s %s stays queued: %s", model.kind(), job_id, error)

    transaction.on_commit(send)


def _locked(model: type[J], job_id: int, *conditions: Q) -> J | None:
    # of=("self",): on PostgreSQL, lock the job row only, not the incident and user
    # rows joined in for the history entry.
    return (
        model.objects.select_for_update(of=("self",))
        .select_related("incident", "requested_by")
        .filter(*conditions, pk=job_id)
        .first()
    )


def _fail(job: Job, error: str) -> None:
    """Under the job's lock: mark it failed and record `<kind>.failed` in its incident's
    history with the reason."""
    model = type(job)
    model.objects.filter(pk=job.pk).update(
        status=Job.Status.FAILED, error=error[:ERROR_MAX], finished_at=timezone.now()
    )
    history_record(
        incident=job.incident,
        actor=None,
        action=f"{model.kind()}.failed",
        summary=f"{model.kind_title()} {job.pk} failed",
        reason=error[:ERROR_MAX],
    )


def job_claim(
    *,
    model: type[J],
    job_id: int,
    stage: str | Callable[[J], str],
    prepare: Callable[[J], None] | None = None,
) -> J | None:
    """Take the job for this worker: its first live status, one more attempt, a fresh
    heartbeat, progress 5 and `stage` (or `stage(job)`). None when the job is gone,
    finished, or live with a worker whose heartbeat is fresh: the caller then does
    nothing, which is what makes a task safe to run twice.

    A job already claimed `max_attempts` times is failed instead ("Gave up after ...").
    `prepare(job)` runs under the lock before the claim is saved, and may set fields
    (they are saved with it) or raise JobCannotRun to fail the job with that reason."""
    with transaction.atomic():
        job = _locked(model, job_id)
        if job is None or job.is_finished:
            return None
        now = timezone.now()
        fresh = now - timedelta(seconds=model.stale_seconds())
        if job.is_live and job.heartbeat_at and job.heartbeat_at > fresh:
            return None  # a live worker has it right now
        if job.attempts >= model.max_attempts:
            _fail(
                job, f"Gave up after {job.attempts} attempts; the worker kept stopping."
            )
            return None
        try:
            if prepare is not None:
                prepare(job)
        except JobCannotRun as refusal:
            _fail(job, str(refusal))
            return None
        job.status = model.live_statuses[0]
        job.attempts += 1
        job.started_at = job.heartbeat_at = now
        job.progress, job.error = 5, ""
        job.stage = (stage(job) if callable(stage) else stage)[:100]
        job.save()
    return job


def job_progress(
    *,
    model: type[Job],
    job_id: int,
    percent: float,
    stage: str,
    status: str | None = None,
) -> None:
    """Report progress (clamped to 0-100) and beat the heart. Only a live job moves:
    a worker that lost its job (finished, failed or queued again) changes nothing.
    `status` moves the job to another of its live statuses."""
    changes = {"status": status} if status else {}
    model.objects.filter(pk=job_id, status__in=model.live_statuses).update(
        progress=max(0, min(100, int(percent))),
        stage=str(stage)[:100],
        heartbeat_at=timezone.now(),
        **changes,
    )


def job_finish(*, model: type[J], job_id: int, store: Callable[[J], None]) -> J | None:
    """Store the result and mark the job done, in one transaction under the job's lock.
    `store(job)` writes the kind's result (evidence, custody, history, fields on `job`,
    which are saved here). None, and `store` not called, when the job was finished
    meanwhile (another attempt won, or it failed): its outcome is kept."""
    with transaction.atomic():
        job = _locked(model, job_id)
        if job is None or job.is_finished:
            return None
        store(job)
        job.status, job.progress, job.stage = Job.Status.DONE, 100, "Done"
        job.finished_at = job.heartbeat_at = timezone.now()
        job.save()
    return job


def job_fail(*, model: type[Job], job_id: int, error: str) -> bool:
    """Fail an unfinished job with `error` (shown to the user) and record it in the
    incident's history. Locks the row, so a job that a worker is finishing right now
    waits for it and is then left done. Returns whether the job was failed."""
    with transaction.atomic():
        job = _locked(model, job_id)
        if job is None or job.is_finished:
            return False
        _fail(job, error)
    return True


def job_release(*, model: type[Job], job_id: int) -> None:
    """Give a live job back to the queue after a transient database error, so that the
    task's retry claims it at once instead of taking it for a live worker's."""
    model.objects.filter(pk=job_id, status__in=model.live_statuses).update(
        status=Job.Status.QUEUED,
        heartbeat_at=None,
        stage="Waiting to retry after a database error",
    )


def job_recover_stale(*, model: type[Job]) -> list[int]:
    """Find the jobs of `model` that nothing is working on, and act; returns their ids.

    - Live jobs with no heartbeat for the stale period lost their worker: queued and
      sent again while attempts remain, otherwise failed ("The worker stopped ...").
    - Queued jobs that no worker took within the period lost their message (or the
      broker was down when they were sent): sent again, and stamped, so that the next
      send waits another period. They stay queued until a worker takes them; the
      attempts count only claims, so a broker that is down for a day does not fail
      jobs that never ran.

    Sending again is idempotent: the claim takes a queued job once, and a job a
    worker took meanwhile is left to it."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=model.stale_seconds())
    stale = Q(status__in=model.live_statuses, heartbeat_at__lt=cutoff)
    touched = []
    for pk in list(model.objects.filter(stale).values_list("pk", flat=True)):
        with transaction.atomic():
            # Locked and checked again: the worker may have finished (or beaten its
            # heart) since the query above, and a finished job is never undone.
            job = _locked(model, pk, stale)
            if job is None:
                continue
            touched.append(pk)
            if job.attempts >= model.max_attempts:
                _fail(
                    job,
                    f"The worker stopped during '{job.stage}' {job.attempts} times.",
                )
                continue
            model.objects.filter(pk=pk).update(
                status=Job.Status.QUEUED,
                stage="Queued again after the worker stopped",
                heartbeat_at=now,
            )
            job_send(job=job, robust=True)
    forgotten = Q(status=Job.Status.QUEUED) & (
        Q(heartbeat_at__lt=cutoff)
        | Q(heartbeat_at__isnull=True, requested_at__lt=cutoff)
    )
    for job in list(model.objects.filter(forgotten).only("pk")):
        # One conditional UPDATE: a worker that claimed it meanwhile wins.
        if model.objects.filter(forgotten, pk=job.pk).update(heartbeat_at=now):
            touched.append(job.pk)
            job_send(job=job, robust=True)
    return touched
