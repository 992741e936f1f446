"""Evidence items: receiving, recording acts of custody, withdrawal and legal hold."""

import re
from datetime import datetime
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from django.core.files import File
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import User
from config.errors import Conflict, InvalidInput, NotAllowed
from evidence.models import CustodyEvent, Evidence
from evidence.services.custody import (
    custody_batch,
    custody_received_hashes,
    custody_received_sha256,
)
from evidence.services.storage import blob_rehash, blob_store, detect_media_type
from incidents.history import history_record
from incidents.locks import incident_lock
from incidents.models import Incident
from incidents.services import require_case_editor

MAX_NAME = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Acts a person records by hand; the others are written by the system as they happen.
MANUAL_ACTIONS = ("transferred", "analysed", "sealed", "note")


def clean_original_name(name: str) -> tuple[str, str | None]:
    """The file name to keep as metadata, and the client's full text when it differed.

    Storage never uses it. Names with control characters or over 255 characters are
    refused; a name with directories keeps only its last part.
    """
    if _CONTROL.search(name):
        raise InvalidInput.for_field(
            "file", "The file name contains control characters."
        )
    if len(name) > MAX_NAME:
        raise InvalidInput.for_field(
            "file", f"The file name is {len(name)} characters long; at most {MAX_NAME}."
        )
    base = PureWindowsPath(PurePosixPath(name).name).name.strip()
    if base in ("", ".", ".."):
        raise InvalidInput.for_field("file", f"'{name}' is not a file name.")
    return base, (name if base != name else None)


def evidence_add(
    *,
    incident: Incident,
    by: User,
    upload: "File[bytes]",
    title: str,
    description: str = "",
    source: str = "",
    collected_by: str = "",
    collected_at: datetime | None = None,
    privileged: bool = False,
    kind: str = Evidence.Kind.FILE,
    location: str = "",
    media_type: str | None = None,
    details: dict[str, Any] | None = None,
) -> Evidence:
    """Keep an uploaded file as the incident's next exhibit.

    `upload` must come through HashingUploadHandler (it carries `sha256` and `head`).
    Records a `received` custody event with the hash computed while receiving.
    """
    if not by.can_submit_evidence:
        raise NotAllowed(f"Your role ({by.role}) cannot add evidence.")
    title = (title or "").strip()
    if not title:
        raise InvalidInput.for_field("title", "A title is required.")
    if upload.size == 0:
        raise InvalidInput.for_field("file", "The file is empty.")
    original_name, client_name = clean_original_name(upload.name or "")
    sha256 = getattr(upload, "sha256", None)
    if sha256 is None:
        raise RuntimeError("evidence uploads must be received by HashingUploadHandler")

    blob = blob_store(source=upload, sha256=sha256, size=upload.size)
    with transaction.atomic():
        incident = incident_lock(incident)
        number = (incident.evidence.aggregate(n=Max("exhibit_number"))["n"] or 0) + 1
        item = Evidence.objects.create(
            incident=incident,
            exhibit_number=number,
            kind=kind,
            title=title,
            description=description or "",
            source=source or "",
            collected_by=collected_by or "",
            collected_at=collected_at,
            received_by=by,
            blob=blob,
            sha256=sha256,
            size=upload.size,
            media_type=media_type
            or detect_media_type(getattr(upload, "head", b""), original_name),
            original_name=original_name,
            is_privileged=privileged,
        )
        details = {
            "original_name": original_name,
            "size": upload.size,
            "source": source,
            **(details or {}),
        }
        if client_name is not None:
            details["client_filename"] = client_name
        with custody_batch() as ledger:
            ledger.append(
                evidence=item,
                action=CustodyEvent.Action.RECEIVED,
                by=by,
                purpose="Received into Casebook",
                location=location,
                sha256_observed=sha256,
                details=details,
            )
        history_record(
            incident=incident,
            actor=by,
            action="evidence.received",
            # A privileged item's title and hash stay out of the (widely read) history.
            summary=f"Received a privileged item ({item.exhibit})"
            if privileged
            else f"Received {item.exhibit}: {title}",
            after={"exhibit": item.exhibit}
            if privileged
            else {"exhibit": item.exhibit, "sha256": sha256, "size": upload.size},
        )
    return item


def custody_add(
    *,
    evidence: Evidence,
    by: User,
    action: str,
    purpose: str,
    location: str = "",
    to_custodian: str = "",
    tool: str = "",
    tool_version: str = "",
) -> CustodyEvent:
    """Record an act of custody done by a person: a transfer, an analysis, a seal or a
    note. The stored bytes are re-hashed now, so the event carries the hash observed at
    that moment. A transfer needs the new custodian, an analysis the tool used."""
    require_case_editor(by)
    if action not in MANUAL_ACTIONS:
        allowed = ", ".join(MANUAL_ACTIONS)
        raise InvalidInput.for_field(
            "action", f"'{action}' cannot be recorded by hand ({allowed})."
        )
    purpose = (purpose or "").strip()
    if not purpose:
        raise InvalidInput.for_field("purpose", "Every act of custody needs a purpose.")
    details: dict[str, str] = {}
    if action == CustodyEvent.Action.TRANSFERRED:
        if not (to_custodian or "").strip():
            raise InvalidInput.for_field(
                "to_custodian", "A transfer needs the new custodian."
            )
        details["to_custodian"] = to_custodian.strip()
    if action == CustodyEvent.Action.ANALYSED:
        if not (tool or "").strip():
            raise InvalidInput.for_field(
                "tool", "An analysis needs the tool that was used."
            )
        details.update(tool=tool.strip(), tool_version=(tool_version or "").strip())
    observed, _ = blob_rehash(evidence.blob)
    with transaction.atomic():
        # The lock order (incidents/locks.py): incident, then item, then ledger head;
        # NO KEY UPDATE so the ledger's foreign-key checks on the item never wait on it.
        incident_lock(evidence.incident)
        item = Evidence.objects.select_for_update(no_key=True).get(pk=evidence.pk)
        if item.is_withdrawn:
            raise Conflict(
                f"{item.exhibit} was withdrawn; no further custody is recorded."
            )
        if action == CustodyEvent.Action.SEALED and item.is_sealed:
            raise Conflict(f"{item.exhibit} is already sealed.")
        if action == CustodyEvent.Action.TRANSFERRED:
            previous = (
                item.custody.filter(action=CustodyEvent.Action.TRANSFERRED)
                .order_by("-seq")
                .first()
            )
            details["from_custodian"] = (
                previous.details.get("to_custodian")
                if previous
                else item.received_by.username
            )
        with custody_batch() as ledger:
            event = ledger.append(
                evidence=item,
                action=action,
                by=by,
                purpose=purpose,
                location=location,
                sha256_observed=observed,
                details=details,
            )
        if action == CustodyEvent.Action.SEALED:
            item.is_sealed = True
            item.save(update_fields=["is_sealed"])
    return event


def evidence_withdraw(*, evidence: Evidence, by: User, reason: str) -> Evidence:
    """Withdraw an item from the case (it is never deleted). Refused under legal hold.

    Records `withdrawn` in the custody ledger and in the incident history.
    """
    require_case_editor(by)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput.for_field("reason", "A withdrawal needs a reason.")
    with transaction.atomic():
        incident = incident_lock(evidence.incident)
        item = Evidence.objects.select_for_update(no_key=True).get(pk=evidence.pk)
        if incident.is_under_legal_hold:
            raise Conflict(
                f"{incident.reference} is under legal hold; nothing can be withdrawn."
            )
        if item.is_withdrawn:
            raise Conflict(f"{item.exhibit} is already withdrawn.")
        item.withdrawn_at, item.withdrawn_by, item.withdrawn_reason = (
            timezone.now(),
            by,
            reason,
        )
        item.save(update_fields=["withdrawn_at", "withdrawn_by", "withdrawn_reason"])
        with custody_batch() as ledger:
            ledger.append(
                evidence=item,
                action=CustodyEvent.Action.WITHDRAWN,
                by=by,
                purpose=reason,
                # The hash received, never the editable row's (see custody.py).
                sha256_observed=custody_received_sha256(item),
            )
        history_record(
            incident=incident,
            actor=by,
            action="evidence.withdrawn",
            summary=f"Withdrew {item.exhibit}",
            reason=reason,
        )
    return item


def legal_hold_change(
    *, incident: Incident, by: User, action: str, reason: str
) -> Incident:
    """Set or release the legal hold. Only counsel and administrators may.

    Records `hold_set`/`hold_released` for every item and the change in the history.
    Setting a hold that is set (or releasing one that is not) is a conflict.
    """
    if not (by.is_admin or by.role == User.Role.COUNSEL):
        raise NotAllowed(
            "Only counsel or an administrator can set or release a legal hold."
        )
    if action not in ("set", "release"):
        raise InvalidInput.for_field("action", "The action is 'set' or 'release'.")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput.for_field("reason", "A legal hold change needs a reason.")
    setting = action == "set"
    with transaction.atomic():
        incident = incident_lock(incident)
        if incident.is_under_legal_hold == setting:
            state = "already under" if setting else "not under"
            raise Conflict(f"{incident.reference} is {state} legal hold.")
        incident.is_under_legal_hold = setting
        incident.legal_hold_set_at = timezone.now() if setting else None
        incident.legal_hold_reason = reason if setting else ""
        incident.save(
            update_fields=[
                "is_under_legal_hold",
                "legal_hold_set_at",
                "legal_hold_reason",
            ]
        )
        custody_action = (
            CustodyEvent.Action.HOLD_SET
            if setting
            else CustodyEvent.Action.HOLD_RELEASED
        )
        items = list(incident.evidence.order_by("exhibit_number"))
        received = custody_received_hashes(item.pk for item in items)
        with custody_batch() as ledger:
            for item in items:
                ledger.append(
                    evidence=item,
                    action=custody_action,
                    by=by,
                    purpose=reason,
                    sha256_observed=received[item.pk],
                )
        history_record(
            incident=incident,
            actor=by,
            action="incident.legal_hold_set"
            if setting
            else "incident.legal_hold_released",
            summary="Legal hold set" if setting else "Legal hold released",
            before={"legal_hold": not setting},
            after={"legal_hold": setting},
            reason=reason,
        )
    return incident
