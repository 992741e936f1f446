import logging

from celery import shared_task

from evidence.models import CustodyBundle, CustodyVerification
from evidence.services.custody_jobs import custody_bundle_run, custody_verification_run
from evidence.services.verification import custody_verify
from incidents.models import Incident
from jobs.tasks import job_task

logger = logging.getLogger(__name__)


@shared_task(time_limit=6 * 3600, soft_time_limit=6 * 3600 - 60)
def custody_verify_all_task() -> dict:
    """Daily: verify every incident with evidence. Failures flag the incident and are
    written to its history by the service; running twice only verifies twice."""
    results = {}
    for incident_id in (
        Incident.objects.filter(evidence__isnull=False)
        .distinct()
        .values_list("pk", flat=True)
    ):
        incident = Incident.objects.filter(pk=incident_id).first()
        if incident is None:
            continue
        report = custody_verify(incident=incident, by=None)
        results[incident.reference] = report.ok
        if not report.ok:
            logger.error("custody verification failed for %s", incident.reference)
    return results


@job_task(
    CustodyVerification,
    soft_time_limit=3 * 3600 - 60,
    time_limit=3 * 3600,
    too_long="The verification took longer than 3 hours.",
)
def custody_verification_run_task(job_id: int) -> None:
    """Run one custody verification job. Idempotent: a finished or live job is left
    alone. A crash other than a transient database error fails the job."""
    custody_verification_run(job_id=job_id)


@job_task(
    CustodyBundle,
    soft_time_limit=3 * 3600 - 60,
    time_limit=3 * 3600,
    too_long="Building the bundle took longer than 3 hours.",
)
def custody_bundle_build_task(job_id: int) -> None:
    """Build one custody bundle job. Idempotent: a finished or live job is left
    alone. A crash other than a transient database error fails the job, and then
    nothing was recorded as exported."""
    custody_bundle_run(job_id=job_id)
