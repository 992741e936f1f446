"""Who may read evidence contents, and reading evidence bytes (every read re-hashes
and is recorded)."""

from django.db import transaction
from django.http import Http404
from django.utils import timezone

from accounts.models import User
from config.errors import Conflict, NotAllowed
from evidence.models import CustodyEvent, Evidence, ForensicResult
from evidence.services.custody import custody_batch, custody_received_sha256
from evidence.services.storage import blob_rehash
from incidents.history import history_record
from incidents.locks import incident_lock


def content_refusal(user: User, *, evidence: Evidence | None = None) -> str | None:
    """The one content-reader rule: why `user` may not read evidence contents (the
    bytes, query-log rows, forensic results and anything derived from them), or None
    when they may.

    Detection tools push data but never read it back. And a forensic submission
    names every artefact it used (id, exhibit and hash): when one of them is
    privileged, its bytes are privileged content too, for whoever may not see
    privileged items. Seeing the object at all (membership, privilege) is the
    `_for_user` selectors' decision, made before this one.
    """
    if user.role == User.Role.SERVICE:
        return "Detection-tool accounts cannot read evidence contents."
    if (
        evidence is not None
        and evidence.kind == Evidence.Kind.FORENSIC_RESULT
        and not user.can_see_privileged
        and ForensicResult.objects.filter(
            evidence=evidence, artefacts__is_privileged=True
        ).exists()
    ):
        return (
            f"{evidence.exhibit} names privileged exhibits; your role "
            f"({user.role}) cannot read its contents."
        )
    return None


def may_read_content(user: User, *, evidence: Evidence | None = None) -> bool:
    return content_refusal(user, evidence=evidence) is None


def require_content_reader(
    user: User, *, evidence: Evidence | None = None, hidden: bool = False
) -> None:
    """Refuse unless `user` may read evidence contents (see `content_refusal`).

    The API answers 403 (`NotAllowed`), as its contract says for a valid token
    whose role does not allow the request; pages pass `hidden=True` and answer 404,
    as every page does for what a user may not open. Nothing is recorded either way.
    """
    refusal = content_refusal(user, evidence=evidence)
    if refusal is None:
        return
    if hidden:
        raise Http404(refusal)
    raise NotAllowed(refusal)


def _intact(evidence: Evidence, observed: str | None, size: int) -> bool:
    """The bytes read now are the bytes the ledger says were received, and the item's
    row still says so too (a row edited to match replaced bytes is not intact)."""
    received = custody_received_sha256(evidence)
    return (
        received is not None
        and observed == received == evidence.sha256
        and size == evidence.size
    )


def evidence_download_check(*, evidence: Evidence, by: User) -> str:
    """What a download checks, without recording anything: the caller may read the
    item's contents and its bytes are intact. Returns their SHA-256. For HEAD, which
    sends no bytes and so is no act of custody (a mismatch is left for the download
    or the verification to record)."""
    require_content_reader(by, evidence=evidence)
    observed, size = blob_rehash(evidence.blob)
    if not _intact(evidence, observed, size):
        raise Conflict(
            f"The stored bytes of {evidence.exhibit} no longer match the SHA-256 "
            "recorded when it was received; they would not be served."
        )
    assert observed is not None  # intact bytes hash to the received SHA-256
    return observed


def evidence_download(*, evidence: Evidence, by: User, purpose: str = "") -> str:
    """Re-hash the stored bytes and record the download; returns the observed hash.

    If the bytes no longer match the hash the ledger recorded when the item was
    received (or the item's row no longer agrees with it), nothing is served: the
    mismatch is recorded and the incident's custody alert raised instead.
    """
    require_content_reader(by, evidence=evidence)
    observed, size = blob_rehash(evidence.blob)
    intact = _intact(evidence, observed, size)
    with transaction.atomic():
        if not intact:  # the incident before the ledger (incidents/locks.py)
            incident = incident_lock(evidence.incident_id)
        with custody_batch() as ledger:
            ledger.append(
                evidence=evidence,
                action=CustodyEvent.Action.DOWNLOADED,
                by=by,
                purpose=purpose or "Download",
                sha256_observed=observed,
                details={"served": intact},
            )
        if not intact:
            problem = (
                f"{evidence.exhibit}: stored bytes do not match the SHA-256 recorded "
                "when it was received"
            )
            incident.custody_alert, incident.custody_alert_at = problem, timezone.now()
            incident.save(update_fields=["custody_alert", "custody_alert_at"])
            history_record(
                incident=incident,
                actor=by,
                action="custody.verification_failed",
                summary=f"Download refused: {problem}",
            )
    if not intact:
        raise Conflict(
            f"The stored bytes of {evidence.exhibit} no longer match the SHA-256 "
            "recorded when it was received; they were not served and the incident "
            "has been flagged."
        )
    assert observed is not None  # intact bytes hash to the received SHA-256
    return observed
