from celery import shared_task
from django.db import OperationalError

from config.jobs import run_job
from dossiers.services import (
    dossier_fail,
    dossier_recover_stale,
    dossier_release,
    dossier_render,
)


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
    run_job(
        name=f"dossier {dossier_id}",
        work=lambda: dossier_render(dossier_id=dossier_id),
        fail=lambda error: dossier_fail(dossier_id=dossier_id, error=error),
        release=lambda: dossier_release(dossier_id=dossier_id),
        too_long="Rendering took longer than 9 minutes.",
    )


@shared_task
def dossier_recover_stale_task() -> list[int]:
    return dossier_recover_stale()
