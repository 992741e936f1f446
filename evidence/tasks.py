import logging

from celery import shared_task

from evidence.services.verification import custody_verify
from incidents.models import Incident

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
