import contextlib
import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError

from analysis.services import (
    analysis_compute,
    analysis_fail,
    analysis_recover_stale,
    analysis_release,
)

logger = logging.getLogger(__name__)


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
    try:
        analysis_compute(analysis_id=analysis_id)
    except SoftTimeLimitExceeded:
        analysis_fail(
            analysis_id=analysis_id, error="The analysis took longer than 29 minutes."
        )
    except OperationalError:
        with contextlib.suppress(OperationalError):  # the sweeper covers this case
            analysis_release(analysis_id=analysis_id)
        raise
    except Exception as error:  # surfaced to the user on the job, not swallowed
        logger.exception("analysis %s failed", analysis_id)
        analysis_fail(analysis_id=analysis_id, error=f"{type(error).__name__}: {error}")


@shared_task
def analysis_recover_stale_task() -> list[int]:
    return analysis_recover_stale()
