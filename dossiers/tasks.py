import contextlib
import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError

from dossiers.services import (
    dossier_fail,
    dossier_recover_stale,
    dossier_release,
    dossier_render,
)

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=10,
    max_retries=3,
    soft_time_limit=540,
    time_limit=600,
)
def dossier_render_task(self, dossier_id: int) -> None:
    """Render one dossier. Idempotent: a finished or live job is left alone. A crash
    other than a transient database error fails the job with the reason."""
    try:
        dossier_render(dossier_id=dossier_id)
    except SoftTimeLimitExceeded:
        dossier_fail(
            dossier_id=dossier_id, error="Rendering took longer than 9 minutes."
        )
    except OperationalError:
        with contextlib.suppress(OperationalError):  # the sweeper covers this case
            dossier_release(dossier_id=dossier_id)
        raise
    except Exception as error:  # surfaced to the user on the job, not swallowed
        logger.exception("dossier %s failed", dossier_id)
        dossier_fail(dossier_id=dossier_id, error=f"{type(error).__name__}: {error}")


@shared_task
def dossier_recover_stale_task() -> list[int]:
    return dossier_recover_stale()
