"""Reading evidence bytes: every access re-hashes and is recorded."""

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from config.errors import Conflict, NotAllowed
from evidence.models import CustodyEvent, Evidence
from evidence.services.custody import custody_batch
from evidence.services.storage import blob_rehash
from incidents.history import history_record
from incidents.models import Incident


def require_content_reader(user: User) -> None:
    if user.role == User.Role.SERVICE:
        raise NotAllowed("Detection-tool accounts cannot read evidence contents.")


def evidence_download(*, evidence: Evidence, by: User, purpose: str = "") -> str:
    """Re-hash the stored bytes and record the download; returns the observed hash.

    If the bytes no longer match their recorded hash nothing is served: the mismatch
    is recorded and the incident's custody alert raised instead.
    """
    require_content_reader(by)
    observed, _ = blob_rehash(evidence.blob)
    with transaction.atomic():
        if observed != evidence.sha256:  # lock the incident first, as every writer does
            incident = Incident.objects.select_for_update(no_key=True).get(
                pk=evidence.incident_id
            )
        with custody_batch() as ledger:
            ledger.append(
                evidence=evidence,
                action=CustodyEvent.Action.DOWNLOADED,
                by=by,
                purpose=purpose or "Download",
                sha256_observed=observed,
                details={"served": observed == evidence.sha256},
            )
        if observed != evidence.sha256:
            problem = (
                f"{evidence.exhibit}: stored bytes do not match the recorded SHA-256"
            )
            incident.custody_alert, incident.custody_alert_at = problem, timezone.now()
            incident.save(update_fields=["custody_alert", "custody_alert_at"])
            history_record(
                incident=incident,
                actor=by,
                action="custody.verification_failed",
                summary=f"Download refused: {problem}",
            )
    if observed != evidence.sha256:
        raise Conflict(
            f"The stored bytes of {evidence.exhibit} no longer match the recorded SHA-256; "
            "they were not served and the incident has been flagged."
        )
    return observed
