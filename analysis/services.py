"""Analysis jobs: request, compute (called by the Celery task), and adding a cluster's
accounts as subjects. The job's lifecycle (claim, progress, failure, recovery) is
jobs/services.py; the analysis itself is analysis/engine; this module records what it
read, how, and what it found."""

import hashlib
import logging
from typing import Any

from django.db import transaction

from accounts.models import User
from analysis.models import Analysis
from config.canonical import canonical_json
from config.celery import require_broker
from config.errors import Conflict, InvalidInput, NotAllowed
from config.rfc3339 import format_utc
from evidence.models import CustodyEvent, Evidence, QueryLogBatch
from evidence.services.custody import custody_batch, custody_received_hashes
from evidence.services.items import evidence_add
from evidence.uploads import hashed_upload
from incidents.history import history_record
from incidents.locks import incident_lock
from incidents.models import Incident, Subject
from incidents.services import require_case_editor, subject_add
from jobs.services import JobCannotRun, job_claim, job_finish, job_progress, job_send

logger = logging.getLogger(__name__)
TOOL = "casebook-linkage"
DOCUMENT_KIND = "casebook.account-linkage-analysis"


def sha256_of(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj)).hexdigest()


def _batches_to_read(incident: Incident) -> list[dict[str, Any]]:
    """Every complete, not withdrawn query-log batch of the incident, oldest first."""
    batches = (
        QueryLogBatch.objects.filter(
            incident=incident,
            evidence__isnull=False,
            evidence__withdrawn_at__isnull=True,
        )
        .select_related("evidence")
        .order_by("id")
    )
    return [
        {
            "id": b.pk,
            "evidence": b.evidence_id,
            "exhibit": b.evidence.exhibit,  # type: ignore[union-attr]  # evidence__isnull=False
            "rows": b.rows,
            "merkle_root": b.merkle_root,
            "body_sha256": b.body_sha256,
        }
        for b in batches
    ]


def analysis_request(
    *, incident: Incident, by: User, parameters: dict[str, Any] | None = None
) -> Analysis:
    """Queue an account-linkage analysis of every query-log row of `incident`.

    Case editors only. `parameters` are merged over the engine's defaults and checked
    (a bad key is InvalidInput naming it); an incident without query logs is refused.
    Records `analysis.requested` and queues the job once the request commits; refused
    (ServiceUnavailable) with nothing stored when the broker does not answer."""
    from analysis import engine

    if not by.can_edit_cases:
        raise NotAllowed(f"Your role ({by.role}) cannot run analyses.")
    cleaned = engine.analysis_parameters_clean(parameters)
    if not _batches_to_read(incident):
        raise InvalidInput(
            f"{incident.reference} has no query logs to analyse; "
            "a detection tool must post them first."
        )
    require_broker()
    with transaction.atomic():
        analysis = Analysis.objects.create(
            incident=incident,
            requested_by=by,
            parameters=cleaned,
            parameters_sha256=sha256_of(cleaned),
            code_version=engine.CODE_VERSION,
        )
        history_record(
            incident=incident,
            actor=by,
            action="analysis.requested",
            summary=f"Requested account-linkage analysis {analysis.pk}",
            after={
                "analysis": analysis.pk,
                "code_version": analysis.code_version,
                "parameters_sha256": analysis.parameters_sha256,
            },
        )
        job_send(job=analysis, robust=True)
    return analysis


def _fix_what_to_read(analysis: Analysis) -> None:
    """At claim: the first claim fixes the batches to read; a retry reads the same
    ones, with the code of the worker that runs it."""
    from analysis import engine

    if not analysis.batches:
        analysis.batches = _batches_to_read(analysis.incident)
        if not analysis.batches:
            raise JobCannotRun("The incident has no query logs to analyse.")
    analysis.code_version = engine.CODE_VERSION


def analysis_compute(*, analysis_id: int) -> Analysis | None:
    """Run the analysis and keep its result as evidence. Safe to call twice: a
    finished or live job is left alone.

    The result (with code version, parameters and the batches read) is stored as an
    `analysis` evidence item with its SHA-256, and every batch read gets an `analysed`
    custody event naming the analysis, code version and parameters hash."""
    from analysis import engine

    analysis = job_claim(
        model=Analysis,
        job_id=analysis_id,
        prepare=_fix_what_to_read,
        stage=lambda job: (
            f"Reading {len(job.batches)} batch(es), {job.rows_read:,} rows"
        ),
    )
    if analysis is None:
        return None

    def progress(percent: float, stage: str) -> None:
        job_progress(model=Analysis, job_id=analysis.pk, percent=percent, stage=stage)

    result = engine.analysis_run(
        batch_ids=[batch["id"] for batch in analysis.batches],
        parameters=analysis.parameters,
        progress=lambda percent, stage: progress(
            10 + round(0.8 * max(0, min(100, percent))), stage
        ),
    )
    progress(92, "Storing the result as evidence")
    _store(analysis, result)
    return Analysis.objects.get(pk=analysis.pk)


def _document(analysis: Analysis, result: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": DOCUMENT_KIND,
        "analysis": analysis.pk,
        "incident": analysis.incident.reference,
        "requested_by": analysis.requested_by.username,
        "requested_at": format_utc(analysis.requested_at),
        "tool": TOOL,
        "code_version": analysis.code_version,
        "parameters": analysis.parameters,
        "parameters_sha256": analysis.parameters_sha256,
        "batches": analysis.batches,
        "result_sha256": sha256_of(result),
        "result": result,
    }


def _store(analysis: Analysis, result: dict[str, Any]) -> None:
    document = _document(analysis, result)
    content = canonical_json(document)
    sha256 = hashlib.sha256(content).hexdigest()
    reference = analysis.incident.reference
    clusters = len(result.get("clusters") or [])
    accounts = (result.get("population") or {}).get("accounts")

    def store(locked: Analysis) -> None:
        # The lock order (incidents/locks.py): job row (held by job_finish), incident,
        # items, ledger head.
        incident = incident_lock(analysis.incident_id)
        read = list(
            Evidence.objects.select_for_update(no_key=True)
            .filter(pk__in=[batch["evidence"] for batch in analysis.batches])
            .order_by("exhibit_number")
        )
        item = evidence_add(
            incident=incident,
            by=analysis.requested_by,
            upload=hashed_upload(content, f"{reference}-analysis-{analysis.pk}.json"),
            title=f"Account-linkage analysis {analysis.pk} "
            f"({clusters} cluster{'' if clusters == 1 else 's'})",
            description=f"{TOOL} {analysis.code_version} over {len(read)} query-log "
            f"batch(es); parameters SHA-256 {analysis.parameters_sha256}.",
            source="casebook",
            kind=Evidence.Kind.ANALYSIS,
            media_type="application/json",
            details={"analysis": analysis.pk, "code_version": analysis.code_version},
        )
        # The hashes received, never the editable rows' (see custody.py).
        received = custody_received_hashes(batch_item.pk for batch_item in read)
        with custody_batch() as ledger:
            for batch_item in read:
                ledger.append(
                    evidence=batch_item,
                    action=CustodyEvent.Action.ANALYSED,
                    by=analysis.requested_by,
                    purpose=f"Account-linkage analysis {analysis.pk}",
                    sha256_observed=received[batch_item.pk],
                    details={
                        "analysis": analysis.pk,
                        "tool": TOOL,
                        "tool_version": analysis.code_version,
                        "parameters_sha256": analysis.parameters_sha256,
                        "analysis_exhibit": item.exhibit,
                        "analysis_sha256": sha256,
                    },
                )
        locked.result = result
        locked.evidence = item
        locked.batches, locked.code_version = analysis.batches, analysis.code_version
        locked.clusters_count, locked.accounts_count = clusters, accounts
        history_record(
            incident=incident,
            actor=analysis.requested_by,
            action="analysis.done",
            summary=f"Analysis {analysis.pk} done: {clusters} cluster(s) among "
            f"{accounts or 0} accounts, kept as {item.exhibit}",
            after={
                "analysis": analysis.pk,
                "exhibit": item.exhibit,
                "sha256": sha256,
                "clusters": clusters,
            },
        )

    # Not called when another attempt finished (or failed) it first: that is kept.
    job_finish(model=Analysis, job_id=analysis.pk, store=store)


def analysis_cluster(analysis: Analysis, cluster_id: str) -> dict[str, Any] | None:
    cluster: dict[str, Any]
    for cluster in (analysis.result or {}).get("clusters") or []:
        if cluster.get("id") == cluster_id:
            return cluster
    return None


def analysis_subjects_add(
    *, analysis: Analysis, cluster_id: str, by: User
) -> dict[str, int]:
    """Add every account of one cluster as an `account` subject of the incident, in
    one transaction. Accounts that already are subjects are left as they are. Each new
    subject is recorded in the history (`subject.added`), and the whole act once more
    as `analysis.subjects_added`. Returns {"added", "existing", "skipped"} (skipped:
    account ids that are not valid subject values)."""
    require_case_editor(by)
    if analysis.status != Analysis.Status.DONE:
        raise Conflict(
            f"Analysis {analysis.pk} is {analysis.status}; it has no clusters."
        )
    cluster = analysis_cluster(analysis, cluster_id)
    if cluster is None:
        raise InvalidInput.for_field(
            "cluster", f"Analysis {analysis.pk} has no cluster '{cluster_id}'."
        )
    counts = {"added": 0, "existing": 0, "skipped": 0}
    note = f"Cluster {cluster_id} of account-linkage analysis {analysis.pk}"
    with transaction.atomic():
        incident = incident_lock(analysis.incident_id)
        for account in cluster.get("accounts") or []:
            try:
                _, created = subject_add(
                    incident=incident,
                    by=by,
                    kind=Subject.Kind.ACCOUNT,
                    value=str(account),
                    note=note,
                )
            except InvalidInput:
                counts["skipped"] += 1
                continue
            counts["added" if created else "existing"] += 1
        history_record(
            incident=incident,
            actor=by,
            action="analysis.subjects_added",
            summary=f"Added {counts['added']} account(s) of cluster {cluster_id} "
            f"(analysis {analysis.pk}) as subjects",
            after={"analysis": analysis.pk, "cluster": cluster_id, **counts},
        )
    return counts
