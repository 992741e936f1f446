"""Dossier jobs: request and render (called by the Celery task). The job's lifecycle
(claim, progress, failure, recovery) is jobs/services.py; the renderer itself is
dossiers/rendering.py."""

import hashlib
import logging
import re
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.core.files import File
from django.db import transaction

from accounts.models import User
from config.celery import require_broker
from config.errors import InvalidInput, NotAllowed
from dossiers.attachments import (
    Attachment,
    PackedFile,
    embed_attachments,
    pack_json,
)
from dossiers.exports import DESCRIPTION as query_log_export_description
from dossiers.exports import query_log_export
from dossiers.models import Dossier
from dossiers.sections import section_keys
from dossiers.snapshot import build_snapshot
from evidence.models import CustodyEvent, Evidence
from evidence.services.custody import custody_batch, custody_received_hashes
from evidence.services.items import evidence_add
from incidents.history import history_record
from incidents.models import Incident
from jobs.services import job_claim, job_finish, job_progress, job_send

if TYPE_CHECKING:
    from dossiers.rendering import RenderResult

logger = logging.getLogger(__name__)
BATES_PREFIX = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,19}$")


def default_bates_prefix(incident: Incident) -> str:
    return incident.reference.replace("-", "")


def dossier_request(
    *,
    incident: Incident,
    by: User,
    bates_prefix: str | None = None,
    sections: list[str] | None = None,
    sign: bool = False,
    prepared_for: str = "",
) -> Dossier:
    """Queue a dossier of `incident`. Records `dossier.requested` in the history and
    queues the render once the request commits. Refused (ServiceUnavailable) with
    nothing stored when the broker does not answer."""
    if not by.can_edit_cases:
        raise NotAllowed(f"Your role ({by.role}) cannot request dossiers.")
    prefix = (bates_prefix or default_bates_prefix(incident)).strip().upper()
    if not BATES_PREFIX.match(prefix):
        raise InvalidInput.for_field(
            "bates_prefix",
            "1 to 20 letters, digits, '-' or '_', starting with a letter or digit.",
        )
    known = section_keys()
    chosen = list(known) if sections is None else list(dict.fromkeys(sections))
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise InvalidInput.for_field(
            "sections",
            f"Unknown section(s) {', '.join(unknown)}; choose from {', '.join(known)}.",
        )
    if not chosen:
        raise InvalidInput.for_field("sections", "Choose at least one section.")
    chosen = [name for name in known if name in chosen]  # document order
    require_broker()
    with transaction.atomic():
        dossier = Dossier.objects.create(
            incident=incident,
            requested_by=by,
            bates_prefix=prefix,
            sections=chosen,
            sign=sign,
            prepared_for=(prepared_for or "").strip()[:200],
        )
        history_record(
            incident=incident,
            actor=by,
            action="dossier.requested",
            summary=f"Requested dossier {dossier.pk}{' (signed)' if sign else ''}",
            after={"dossier": dossier.pk, "bates_prefix": prefix, "sign": sign},
        )
        job_send(job=dossier, robust=True)
    return dossier


def _progress(
    dossier_id: int, percent: int, stage: str, status: str | None = None
) -> None:
    job_progress(
        model=Dossier, job_id=dossier_id, percent=percent, stage=stage, status=status
    )


def dossier_render(*, dossier_id: int) -> Dossier | None:
    """Render, optionally sign, and store the dossier. Safe to call twice: a finished
    or live job is left alone. The PDF is stored only when complete, as evidence of
    the incident with its SHA-256, and every included exhibit gets an `exported`
    custody event naming the dossier."""
    from dossiers import rendering

    dossier = job_claim(
        model=Dossier, job_id=dossier_id, stage="Taking a snapshot of the case"
    )
    if dossier is None:
        return None
    workdir = Path(tempfile.mkdtemp(prefix=f"dossier-{dossier.pk}-"))
    try:
        snapshot = build_snapshot(dossier)
        exhibit_ids = snapshot.pop("_exhibit_ids")
        _progress(dossier.pk, 12, "Exporting attachments")
        attachments = _attachments(dossier, snapshot, workdir)
        snapshot["attachments"] = [
            {
                "name": a.name,
                "media_type": a.media_type,
                "sha256": a.sha256,
                "size": a.size,
                "description": a.description,
            }
            for a in attachments
        ]
        _progress(dossier.pk, 20, "Laying out the document")
        laid_out = workdir / "dossier-layout.pdf"
        result = rendering.render_dossier(
            snapshot,
            laid_out,
            progress=lambda percent, stage: _progress(dossier.pk, percent, stage),
        )
        _progress(dossier.pk, 80, "Embedding the attachments")
        pdf = workdir / "dossier.pdf"
        embed_attachments(laid_out, pdf, attachments, created=_generated_at(snapshot))
        laid_out.unlink()
        if dossier.sign:
            from dossiers import signing

            _progress(dossier.pk, 85, "Signing", Dossier.Status.SIGNING)
            signed = workdir / "dossier-signed.pdf"
            signing.sign_pdf(pdf, signed)
            pdf = signed
        _progress(dossier.pk, 92, "Storing as evidence")
        _store(dossier, pdf, result, exhibit_ids)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return Dossier.objects.get(pk=dossier.pk)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _generated_at(snapshot: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(snapshot["generated_at"].replace("Z", "+00:00"))


def _attachments(
    dossier: Dossier, snapshot: dict[str, Any], workdir: Path
) -> list[Attachment]:
    """The files to embed, each deflated and hashed as it is written."""
    incident = dossier.incident
    files = []
    if "query_logs" in dossier.sections or "appendix" in dossier.sections:
        with PackedFile(workdir / "query-logs.csv.deflate") as packed:
            batch_ids = [b["id"] for b in snapshot["query_logs"]["batches"]]
            query_log_export(incident, batch_ids, packed)
        files.append(
            packed.attachment(
                "query-logs.csv",
                "text/csv",
                query_log_export_description,
                "Data",
            )
        )
    files.append(
        pack_json(
            workdir / "forensic-results.json.deflate",
            snapshot["forensic_results"],
            "forensic-results.json",
            "Forensic results",
            "Data",
        )
    )
    files.append(
        pack_json(
            workdir / "alerts.json.deflate",
            snapshot["alerts"],
            "alerts.json",
            "Detector alerts",
            "Data",
        )
    )
    manifest = {
        "incident": incident.reference,
        "dossier": dossier.pk,
        "generated_at": snapshot["generated_at"],
        "exhibits": [
            {k: e[k] for k in ("exhibit", "title", "size", "sha256", "original_name")}
            for e in snapshot["exhibits"]
        ],
        "attachments": [
            {
                "name": a.name,
                "media_type": a.media_type,
                "sha256": a.sha256,
                "description": a.description,
            }
            for a in files
        ],
        "custody_checkpoint": snapshot["checkpoint"],
    }
    files.append(
        pack_json(
            workdir / "manifest.json.deflate",
            manifest,
            "manifest.json",
            "Every exhibit and attachment with its SHA-256",
            "Supplement",
        )
    )
    return files


def _store(
    dossier: Dossier, pdf: Path, result: "RenderResult", exhibit_ids: list[int]
) -> None:
    sha256 = _sha256(pdf)
    size = pdf.stat().st_size
    with pdf.open("rb") as handle:
        upload = File(
            handle, name=f"{dossier.incident.reference}-dossier-{dossier.pk}.pdf"
        )
        # What HashingUploadHandler leaves on an upload, which evidence_add reads.
        upload.sha256 = sha256  # type: ignore[attr-defined]
        upload.head = handle.read(8192)  # type: ignore[attr-defined]
        upload.size = size
        handle.seek(0)

        def store(locked: Dossier) -> None:
            item = evidence_add(
                incident=dossier.incident,
                by=dossier.requested_by,
                upload=upload,
                title=f"Dossier {dossier.pk} ({result.bates_first}–{result.bates_last})",
                source="casebook",
                kind=Evidence.Kind.DOSSIER,
                media_type="application/pdf",
                details={
                    "dossier": dossier.pk,
                    "pages": result.pages,
                    "signed": dossier.sign,
                },
            )
            exhibits = list(
                Evidence.objects.filter(pk__in=exhibit_ids).order_by("exhibit_number")
            )
            # The hashes received, never the editable rows' (see custody.py).
            received = custody_received_hashes(exhibit_ids)
            with custody_batch() as ledger:
                for exhibit in exhibits:
                    ledger.append(
                        evidence=exhibit,
                        action=CustodyEvent.Action.EXPORTED,
                        by=dossier.requested_by,
                        purpose=f"Included in dossier {dossier.pk}",
                        sha256_observed=received[exhibit.pk],
                        details={"dossier": dossier.pk, "dossier_sha256": sha256},
                    )
            locked.evidence = item
            locked.sha256, locked.size, locked.pages = sha256, size, result.pages
            locked.bates_first, locked.bates_last = (
                result.bates_first,
                result.bates_last,
            )
            history_record(
                incident=dossier.incident,
                actor=dossier.requested_by,
                action="dossier.done",
                summary=f"Dossier {dossier.pk} ready: {result.pages} pages, {item.exhibit}",
                after={
                    "dossier": dossier.pk,
                    "sha256": sha256,
                    "exhibit": item.exhibit,
                },
            )

        # Not called when another attempt finished first: its result is kept.
        job_finish(model=Dossier, job_id=dossier.pk, store=store)
