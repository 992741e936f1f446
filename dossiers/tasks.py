from dossiers.models import Dossier
from dossiers.services import dossier_render
from jobs.tasks import job_task


@job_task(
    Dossier,
    soft_time_limit=540,
    time_limit=600,
    too_long="Rendering took longer than 9 minutes.",
)
def dossier_render_task(dossier_id: int) -> None:
    """Render one dossier. Idempotent: a finished or live job is left alone. A crash
    other than a transient database error fails the job with the reason."""
    dossier_render(dossier_id=dossier_id)
