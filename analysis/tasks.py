from analysis.models import Analysis
from analysis.services import analysis_compute
from jobs.tasks import job_task


@job_task(
    Analysis,
    soft_time_limit=1740,
    time_limit=1800,
    too_long="The analysis took longer than 29 minutes.",
)
def analysis_compute_task(analysis_id: int) -> None:
    """Compute one analysis. Idempotent: a finished or live job is left alone. A crash
    other than a transient database error fails the job with the reason."""
    analysis_compute(analysis_id=analysis_id)
