"""Custody verification and the custody bundle as jobs, for incidents too large to
re-read inside a request.

Both re-read every stored byte of an incident. Up to CUSTODY_SYNC_MAX_BYTES they run
inside the request exactly as before (200 and the report, 200 and the zip); above it
the request queues a job (202) and a worker does the same work, moving the job's
progress as it goes. The lifecycle (claim, progress, finish, failure, recovery) is
jobs/services.py; the checks are evidence/services/verification.py and the bundle
evidence/services/bundle.py, unchanged: a job only runs them elsewhere.
"""

import contextlib
import hashlib
import tempfile
from typing import IO, Any, TypeVar

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import QuerySet, Sum

from accounts.models import User
from evidence.models import CustodyBundle, CustodyVerification, Evidence
from evidence.services.access import content_refusal, require_content_reader
from evidence.services.bundle import (
    bundle_files_included,
    bundle_finish,
    bundle_open,
    bundle_write_files,
)
from evidence.services.verification import custody_verify
from incidents.locks import incident_lock
from incidents.models import Incident
from incidents.selectors import incident_visible_to
from jobs.models import Job
from jobs.services import JobCannotRun, job_claim, job_finish, job_progress, job_send

CHUNK = 1024 * 1024


def custody_is_large(*, items: list[Evidence] | QuerySet[Evidence]) -> bool:
    """Whether re-reading these items' stored bytes is too much work for a request
    (their total size is above CUSTODY_SYNC_MAX_BYTES). `items`: a queryset or list
    of evidence items."""
    if isinstance(items, list):
        total = sum(item.blob.size for item in items)
    else:
        total = items.aggregate(total=Sum("blob__size"))["total"] or 0
    limit: int = settings.CUSTODY_SYNC_MAX_BYTES
    return total > limit


def custody_bundle_is_large(
    *, by: User, items: list[Evidence], include_files: bool = True
) -> bool:
    """A bundle's work is copying the bytes of the items it includes; a hashes-only
    bundle (or one whose files the caller may not read) is always quick."""
    with_file = bundle_files_included(by=by, items=items, include_files=include_files)
    return custody_is_large(items=[item for item in items if item.pk in with_file])


_J = TypeVar("_J", bound=Job)


def _unfinished(model: type[_J], **match: Any) -> _J | None:
    return (
        model.objects.filter(**match)
        .exclude(status__in=(Job.Status.DONE, Job.Status.FAILED))
        .order_by("-requested_at", "-id")
        .first()
    )


def custody_verification_request(
    *, incident: Incident, by: User
) -> CustodyVerification:
    """Queue a custody verification of `incident` (the checks of `custody_verify`).
    Who may verify is who may read evidence contents, as for the synchronous check.

    An unfinished verification of the same incident is returned instead of queuing a
    second one: both would re-read the same bytes. Records nothing until it runs;
    then `custody_verify` records its `verified` events and alert as always."""
    require_content_reader(by)
    with transaction.atomic():
        # Serialises concurrent requests for the same incident (the check below).
        incident_lock(incident)
        running = _unfinished(CustodyVerification, incident=incident)
        if running is not None:
            return running
        job = CustodyVerification.objects.create(incident=incident, requested_by=by)
        job_send(job=job)
    return job


def _requester_may_still(job: Job) -> None:
    """At claim: the requester may still see the incident and read contents; a
    role or membership lost since the request means the job cannot run."""
    requester = job.requested_by
    if not incident_visible_to(requester).filter(pk=job.incident_id).exists():
        raise JobCannotRun(
            f"{requester.username} no longer has access to the incident."
        )
    refusal = content_refusal(requester)
    if refusal is not None:
        raise JobCannotRun(refusal)


def custody_verification_run(*, job_id: int) -> CustodyVerification | None:
    """Run one verification job (called by its Celery task). Safe to call twice: a
    finished or live job is left alone. Progress moves from 5 to 95 as items are
    re-hashed; the report is stored on the job exactly as the synchronous answer."""
    job = job_claim(
        model=CustodyVerification,
        job_id=job_id,
        prepare=_requester_may_still,
        stage="Re-hashing stored files",
    )
    if job is None:
        return None

    def progress(done: int, total: int) -> None:
        job_progress(
            model=CustodyVerification,
            job_id=job.pk,
            percent=5 + 90 * done / max(total, 1),
            stage=f"Re-hashed {done} of {total} item{'' if total == 1 else 's'}",
        )

    report = custody_verify(
        incident=job.incident, by=job.requested_by, progress=progress
    )

    def store(locked: CustodyVerification) -> None:
        locked.ok, locked.checked = report.ok, report.checked
        locked.failures = [failure.as_dict() for failure in report.failures]

    job_finish(model=CustodyVerification, job_id=job.pk, store=store)
    return CustodyVerification.objects.get(pk=job.pk)


def custody_bundle_request(
    *, incident: Incident, by: User, include_files: bool = True
) -> CustodyBundle:
    """Queue a custody bundle of what `by` may see of `incident`. Content readers
    only, as for the synchronous bundle. An unfinished bundle of the same incident,
    requester and options is returned instead of queuing a second. Nothing is
    recorded until the bundle is built (see `custody_bundle_run`)."""
    require_content_reader(by)
    with transaction.atomic():
        incident_lock(incident)
        running = _unfinished(
            CustodyBundle,
            incident=incident,
            requested_by=by,
            include_files=include_files,
        )
        if running is not None:
            return running
        job = CustodyBundle.objects.create(
            incident=incident, requested_by=by, include_files=include_files
        )
        job_send(job=job)
    return job


def _bundle_storage_name(job: CustodyBundle) -> str:
    return f"custody-bundles/{job.incident.reference}/{job.pk}-custody-bundle.zip"


def _sha256_and_size(handle: IO[bytes]) -> tuple[str, int]:
    handle.seek(0)
    digest, size = hashlib.sha256(), 0
    while chunk := handle.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    handle.seek(0)
    return digest.hexdigest(), size


def custody_bundle_run(*, job_id: int) -> CustodyBundle | None:
    """Build one bundle job (called by its Celery task). Safe to call twice.

    The items are those the requester may see now, the files those they may read.
    Their bytes are copied first (progress 5 to 90). Then, in one transaction under
    the job's lock: every item gets its `exported` event, the ledger and signed
    manifest are written, the zip is closed, kept in storage (a plain stored file,
    not evidence: it is derived from the evidence and can be built again), and the
    job is marked done with the zip's SHA-256 and what was recorded. A failure at
    any point records nothing and leaves no stored file."""
    from evidence.selectors import evidence_list_for_user

    job = job_claim(
        model=CustodyBundle,
        job_id=job_id,
        prepare=_requester_may_still,
        stage="Copying stored files",
    )
    if job is None:
        return None
    by, incident = job.requested_by, job.incident
    items = list(evidence_list_for_user(by, incident))
    with_file = bundle_files_included(
        by=by, items=items, include_files=job.include_files
    )

    def progress(copied: int, total: int) -> None:
        job_progress(
            model=CustodyBundle,
            job_id=job.pk,
            percent=5 + 85 * copied / max(total, 1),
            stage=f"Copied {copied:,} of {total:,} bytes",
        )

    stored: list[str] = []
    with tempfile.TemporaryFile() as output:
        bundle = bundle_open(output)
        try:
            bundle_write_files(
                bundle=bundle, items=items, with_file=with_file, progress=progress
            )
            job_progress(
                model=CustodyBundle,
                job_id=job.pk,
                percent=92,
                stage="Recording the export and signing the manifest",
            )

            def store(locked: CustodyBundle) -> None:
                locked.exported = bundle_finish(
                    bundle=bundle,
                    incident=incident,
                    by=by,
                    items=items,
                    with_file=with_file,
                )
                locked.sha256, locked.size = _sha256_and_size(output)
                locked.storage_name = default_storage.save(
                    _bundle_storage_name(locked), File(output, name="bundle.zip")
                )
                stored.append(locked.storage_name)

            job_finish(model=CustodyBundle, job_id=job.pk, store=store)
        except BaseException:
            # Saved, then the transaction did not commit: no file without its record.
            for name in stored:
                with contextlib.suppress(OSError):
                    default_storage.delete(name)
            raise
        finally:
            bundle.close()
    return CustodyBundle.objects.get(pk=job.pk)


def custody_bundle_open(job: CustodyBundle) -> "File[Any]":
    """The built zip, opened for reading (the caller closes it)."""
    return default_storage.open(job.storage_name, "rb")
