"""The Celery side of jobs: the wrapper every kind's task is built with, and the one
beat task that recovers every kind.

A job row shows the user what became of the work, so a task never ends with the row
still claiming a live worker: a transient database error gives the job back to the
queue (the task's autoretry then claims it at once) and re-raises; running out of time
or any other crash fails the job with a reason the user can read.
"""

import contextlib
import functools
import logging
from collections.abc import Callable

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError

from jobs.models import Job
from jobs.services import job_fail, job_kinds, job_recover_stale, job_release

logger = logging.getLogger(__name__)


def job_task(
    model: type[Job], *, soft_time_limit: int, time_limit: int, too_long: str
) -> Callable[[Callable[[int], object]], Task[[int], None]]:
    """Make `work(job_id)` the Celery task of one job of `model`, named after the
    function (`dossiers.tasks.dossier_render_task`). `work` calls the kind's service,
    which claims the job first (jobs.services.job_claim): a job that is gone, finished
    or taken by a live worker is left alone, so the task is safe to run twice.

    Late acknowledgement, so a message whose worker died is delivered again; named
    transient errors (OperationalError) retried with backoff after the job is given
    back; `too_long` is the reason shown when the soft time limit stops the work."""

    def decorate(work: Callable[[int], object]) -> Task[[int], None]:
        @shared_task(
            name=f"{work.__module__}.{work.__name__}",
            acks_late=True,
            reject_on_worker_lost=True,
            autoretry_for=(OperationalError,),
            retry_backoff=10,
            max_retries=3,
            soft_time_limit=soft_time_limit,
            time_limit=time_limit,
        )
        @functools.wraps(work)
        def task(job_id: int) -> None:
            run_job(model=model, job_id=job_id, work=work, too_long=too_long)

        return task

    return decorate


def run_job(
    *,
    model: type[Job],
    job_id: int,
    work: Callable[[int], object],
    too_long: str,
) -> None:
    try:
        work(job_id)
    except SoftTimeLimitExceeded:
        job_fail(model=model, job_id=job_id, error=too_long)
    except OperationalError:
        with contextlib.suppress(OperationalError):  # the sweeper covers this case
            job_release(model=model, job_id=job_id)
        raise
    except Exception as error:  # surfaced to the user on the job, not swallowed
        logger.exception("%s %s failed", model.kind(), job_id)
        job_fail(model=model, job_id=job_id, error=f"{type(error).__name__}: {error}")


@shared_task
def job_recover_stale_task() -> dict[str, list[int]]:
    """Every few minutes (beat): jobs of every kind whose worker or message was lost
    are sent again or failed (jobs.services.job_recover_stale). Returns the ids
    touched, by kind."""
    return {model.kind(): job_recover_stale(model=model) for model in job_kinds()}
