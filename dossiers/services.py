"""Dossier jobs: request, render (called by the Celery task), and recovery of jobs
whose worker died. The renderer itself is dossiers/rendering.py."""

import hashlib
import logging
import re
import shutil
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from config.errors import InvalidInput, NotAllowed
from dossiers.attachments import (
    Attachment,
    PackedFile,
    embed_attachments,
    pack_json,
)
from dossiers.exports import query_log_export
from dossiers.models import Dossier
from dossiers.snapshot import SECTIONS, build_snapshot
from evidence.models import CustodyEvent, Evidence
from evidence.services.custody import custody_batch
from evidence.services.items import evidence_add
from incidents.history import history_record
from incidents.models import Incident

logger = logging.getLogger(__name__)
BATES_PREFIX = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,19}$")
MAX_ATTEMPTS = 3


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
    queues the render once the request commits."""
    if not by.can_edit_cases:
        raise NotAllowed(f"Your role ({by.role}) cannot request dossiers.")
    prefix = (bates_prefix or default_bates_prefix(incident)).strip().upper()
    if not BATES_PREFIX.match(prefix):
        raise InvalidInput.for_field(
            "bates_prefix",
            "1 to 20 letters, digits, '-' or '_', starting with a letter or digit.",
        )
    chosen = list(SECTIONS) if sections is None else list(dict.fromkeys(sections))
    unknown = [name for name in chosen if name not in SECTIONS]
    if unknown:
        raise InvalidInput.for_field(
            "sections",
            f"Unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}.",
        )
    if not chosen:
        raise InvalidInput.for_field("sections", "Choose at least one section.")
    chosen = [name for name in SECTIONS if name in chosen]  # document order
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
        transaction.on_commit(lambda: _enqueue(dossier.pk))
    return dossier


def _enqueue(dossier_id: int) -> None:
    from dossiers.tasks import dossier_render_task

    dossier_render_task.delay(dossier_id)


def _set_progress(dossier_id: int, percent: int, stage: str, **fields) -> None:
    Dossier.objects.filter(pk=dossier_id).update(
        progress=max(0, min(100, percent)),
        stage=stage,
        heartbeat_at=timezone.now(),
        **fields,
    )


def _claim(dossier_id: int) -> Dossier | None:
    """Take the job, unless it is finished or another live worker has it."""
    with transaction.atomic():
        dossier = Dossier.objects.select_for_update().filter(pk=dossier_id).first()
        if dossier is None or dossier.is_finished:
            return None
        fresh = timezone.now() - timedelta(seconds=settings.DOSSIER_STALE_SECONDS)
        if (
            dossier.status != Dossier.Status.QUEUED
            and dossier.heartbeat_at
            and dossier.heartbeat_at > fresh
        ):
            return None  # someone is rendering it right now
        if dossier.attempts >= MAX_ATTEMPTS:
            _fail(
                dossier,
                f"Gave up after {dossier.attempts} attempts; the worker kept stopping.",
            )
            return None
        dossier.status = Dossier.Status.RENDERING
        dossier.attempts += 1
        dossier.started_at = dossier.heartbeat_at = timezone.now()
        dossier.progress, dossier.stage, dossier.error = (
            5,
            "Taking a snapshot of the case",
            "",
        )
        dossier.save()
    return dossier


def _fail(dossier: Dossier, error: str) -> None:
    Dossier.objects.filter(pk=dossier.pk).update(
        status=Dossier.Status.FAILED, error=error[:2000], finished_at=timezone.now()
    )
    history_record(
        incident=dossier.incident,
        actor=None,
        action="dossier.failed",
        summary=f"Dossier {dossier.pk} failed",
        reason=error[:2000],
    )


def dossier_fail(*, dossier_id: int, error: str) -> None:
    dossier = Dossier.objects.filter(pk=dossier_id).select_related("incident").first()
    if dossier is not None and not dossier.is_finished:
        _fail(dossier, error)


def dossier_release(*, dossier_id: int) -> None:
    """Give a live job back to the queue after a transient error, so the task's retry
    can claim it at once instead of taking it for a live worker's."""
    Dossier.objects.filter(
        pk=dossier_id, status__in=[Dossier.Status.RENDERING, Dossier.Status.SIGNING]
    ).update(
        status=Dossier.Status.QUEUED,
        heartbeat_at=None,
        stage="Waiting to retry after a database error",
    )


def dossier_render(*, dossier_id: int) -> Dossier | None:
    """Render, optionally sign, and store the dossier. Safe to call twice: a finished
    or live job is left alone. The PDF is stored only when complete, as evidence of
    the incident with its SHA-256, and every included exhibit gets an `exported`
    custody event naming the dossier."""
    from dossiers import rendering

    dossier = _claim(dossier_id)
    if dossier is None:
        return None
    workdir = Path(tempfile.mkdtemp(prefix=f"dossier-{dossier.pk}-"))
    try:
        snapshot = build_snapshot(dossier)
        exhibit_ids = snapshot.pop("_exhibit_ids")
        _set_progress(dossier.pk, 12, "Exporting attachments")
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
        _set_progress(dossier.pk, 20, "Laying out the document")
        laid_out = workdir / "dossier-layout.pdf"
        result = rendering.render_dossier(
            snapshot,
            laid_out,
            progress=lambda percent, stage: _set_progress(dossier.pk, percent, stage),
        )
        _set_progress(dossier.pk, 80, "Embedding the attachments")
        pdf = workdir / "dossier.pdf"
        embed_attachments(laid_out, pdf, attachments, created=_generated_at(snapshot))
        laid_out.unlink()
        if dossier.sign:
            from dossiers import signing

            _set_progress(dossier.pk, 85, "Signing", status=Dossier.Status.SIGNING)
            signed = workdir / "dossier-signed.pdf"
            signing.sign_pdf(pdf, signed)
            pdf = signed
        _set_progress(dossier.pk, 92, "Storing as evidence")
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


def _generated_at(snapshot: dict) -> datetime:
    return datetime.fromisoformat(snapshot["generated_at"].replace("Z", "+00:00"))


def _attachments(dossier: Dossier, snapshot: dict, workdir: Path) -> list[Attachment]:
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
                "Every query-log row with its trace",
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
            {"name": a.name, "media_type": a.media_type, "sha256": a.sha256}
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


def _store(dossier: Dossier, pdf: Path, result, exhibit_ids: list[int]) -> None:
    sha256 = _sha256(pdf)
    size = pdf.stat().st_size
    with pdf.open("rb") as handle:
        upload = File(
            handle, name=f"{dossier.incident.reference}-dossier-{dossier.pk}.pdf"
        )
        upload.sha256, upload.head = sha256, handle.read(8192)
        upload.size = size
        handle.seek(0)
        with transaction.atomic():
            locked = Dossier.objects.select_for_update().get(pk=dossier.pk)
            if locked.is_finished:  # another attempt finished first; keep its result
                return
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
            with custody_batch() as ledger:
                for exhibit in Evidence.objects.filter(pk__in=exhibit_ids).order_by(
                    "exhibit_number"
                ):
                    ledger.append(
                        evidence=exhibit,
                        action=CustodyEvent.Action.EXPORTED,
                        by=dossier.requested_by,
                        purpose=f"Included in dossier {dossier.pk}",
                        sha256_observed=exhibit.sha256,
                        details={"dossier": dossier.pk, "dossier_sha256": sha256},
                    )
            locked.evidence = item
            locked.sha256, locked.size, locked.pages = sha256, size, result.pages
            locked.bates_first, locked.bates_last = (
                result.bates_first,
                result.bates_last,
            )
            locked.status, locked.progress, locked.stage = (
                Dossier.Status.DONE,
                100,
                "Done",
            )
            locked.finished_at = locked.heartbeat_at = timezone.now()
            locked.save()
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


def dossier_recover_stale() -> list[int]:
    """Jobs whose worker stopped (no heartbeat for DOSSIER_STALE_SECONDS): queue them
    again while attempts remain, otherwise mark them failed. Returns the ids touched."""
    cutoff = timezone.now() - timedelta(seconds=settings.DOSSIER_STALE_SECONDS)
    live = [Dossier.Status.RENDERING, Dossier.Status.SIGNING]
    stale = Dossier.objects.filter(status__in=live, heartbeat_at__lt=cutoff)
    touched = []
    for pk in list(stale.values_list("pk", flat=True)):
        with transaction.atomic():
            # Locked and checked again: the worker may have finished since the query
            # above, and a finished job is never undone.
            dossier = (
                Dossier.objects.select_for_update()
                .filter(pk=pk, status__in=live, heartbeat_at__lt=cutoff)
                .select_related("incident")
                .first()
            )
            if dossier is None:
                continue
            touched.append(dossier.pk)
            if dossier.attempts >= MAX_ATTEMPTS:
                _fail(
                    dossier,
                    f"The worker stopped during '{dossier.stage}' "
                    f"{dossier.attempts} times.",
                )
            else:
                Dossier.objects.filter(pk=dossier.pk).update(
                    status=Dossier.Status.QUEUED,
                    stage="Queued again after the worker stopped",
                )
                transaction.on_commit(lambda pk=dossier.pk: _enqueue(pk))
    return touched
