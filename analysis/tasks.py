from celery import shared_task
from django.db import OperationalError

from analysis.services import (
    analysis_compute,
    analysis_fail,
    analysis_recover_stale,
    analysis_release,
)
from config.jobs import run_job


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=10,
    max_retries=3,
    soft_time_limit=1740,
    time_limit=1800,
)
def analysis_compute_task(self, analysis_id: int) -> None:
    """Compute one analysis. Idempotent: a finished or live job is left alone. A crash
    other than a transient database error fails the job with the reason."""
    run_job(
        name=f"analysis {analysis_id}",
        work=lambda: analysis_compute(analysis_id=analysis_id),
        fail=lambda error: analysis_fail(analysis_id=analysis_id, error=error),
        release=lambda: analysis_release(analysis_id=analysis_id),
        too_long="The analysis took longer than 29 minutes.",
    )


@shared_task
def analysis_recover_stale_task() -> list[int]:
    return analysis_recover_stale()
