"""Re-checking everything the ledger promises: stored bytes, per-item chains, the
Merkle tree, and every signed checkpoint. Used by the API, the command and the
daily job."""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from evidence import merkle, signing
from evidence.models import (
    Checkpoint,
    CustodyEvent,
    Evidence,
    ForensicResult,
    LedgerHead,
    QueryLogBatch,
    QueryLogRow,
)
from evidence.services.custody import FIRST_ACTIONS, GENESIS, custody_batch
from evidence.services.storage import blob_chunks, blob_rehash
from incidents.history import history_record
from incidents.locks import incidents_lock
from incidents.models import Incident

# Columns that repeat a field of the hashed body; a difference means the row was edited.
MIRRORED = {
    "seq": "seq",
    "evidence": "evidence_id",
    "action": "action",
    "actor": "actor_name",
    "purpose": "purpose",
    "location": "location",
    "sha256_observed": "sha256_observed",
    "prev_hash": "prev_hash",
    "details": "details",
}


@dataclass
class Failure:
    evidence: str | None
    problem: str

    def as_dict(self) -> dict[str, Any]:
        return {"evidence": self.evidence, "problem": self.problem}


@dataclass
class Report:
    checked: int = 0
    failures: list[Failure] = field(default_factory=list)
    # Items (by id) with a failure of their own: their `verified` event says so.
    failed_items: set[int] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.failures

    def fail(self, evidence: str | None, problem: str) -> None:
        self.failures.append(Failure(evidence, problem))

    def fail_item(self, item: Evidence, problem: str) -> None:
        self.failed_items.add(item.pk)
        self.fail(item.exhibit, problem)


@dataclass
class Observed:
    """What the stored bytes of an item hash to now."""

    sha256: str | None
    size: int


def _received(
    item: Evidence, chain: list[dict[str, Any]], report: Report
) -> dict[str, Any] | None:
    """The body of the event that opened the item's chain, if it is a receipt that
    carries a hash; otherwise the item is reported and None returned."""
    if not chain:
        report.fail_item(
            item,
            "no custody events in the ledger: the item was never recorded as received",
        )
        return None
    first = chain[0]
    if first.get("action") not in FIRST_ACTIONS:
        report.fail_item(
            item,
            f"ledger seq {first.get('seq')}: the item's first event is "
            f"{first.get('action')!r}, not a receipt ('received' or 'ingested')",
        )
        return None
    if not isinstance(first.get("sha256_observed"), str):
        report.fail_item(
            item,
            f"ledger seq {first.get('seq')}: the receipt records no SHA-256",
        )
        return None
    return first


def _check_item(
    item: Evidence, chain: list[dict[str, Any]], report: Report
) -> tuple[Observed, str | None]:
    """Compare the item's bytes, its row and every hash the ledger observed for it
    with the hash the ledger recorded when it was received. Returns what the bytes
    hash to now and that received hash (None when the chain has no usable receipt).

    The row (`evidence_evidence`) is not append-only: whoever administers the
    database can replace the stored file and set the row's sha256 and size to match.
    So the row is never the reference; a row that disagrees with the ledger is
    itself a failure."""
    sha256, size = blob_rehash(item.blob)
    observed = Observed(sha256, size)
    receipt = _received(item, chain, report)
    expected = receipt["sha256_observed"] if receipt else item.sha256
    details = receipt.get("details") if receipt else None
    expected_size = (
        details.get("size")
        if isinstance(details, dict) and isinstance(details.get("size"), int)
        else item.size
    )
    if sha256 is None:
        report.fail_item(item, "stored file is missing")
    elif sha256 != expected or size != expected_size:
        report.fail_item(
            item,
            f"stored file altered: SHA-256 is now {sha256} ({size} bytes), "
            f"received {expected} ({expected_size} bytes)",
        )
    if receipt is None:
        return observed, None
    if item.sha256 != expected or item.size != expected_size:
        report.fail_item(
            item,
            f"evidence row altered: it says SHA-256 {item.sha256} ({item.size} bytes) "
            f"but the ledger recorded {expected} ({expected_size} bytes) when the "
            f"item was received (ledger seq {receipt.get('seq')})",
        )
    if item.blob_id != expected:
        report.fail_item(
            item,
            f"evidence row altered: it points at stored bytes {item.blob_id}, not "
            f"those received ({expected})",
        )
    for body in chain:
        if (
            body.get("incident") != item.incident.reference
            or body.get("exhibit") != item.exhibit
        ):
            report.fail_item(
                item,
                f"ledger seq {body.get('seq')} ({body.get('action')}) names "
                f"{body.get('incident')} {body.get('exhibit')}; the evidence row says "
                f"{item.incident.reference} {item.exhibit} (row moved or renumbered)",
            )
    for body in chain[1:]:
        hashed = body.get("sha256_observed")
        if hashed is not None and hashed != expected:
            report.fail_item(
                item,
                f"ledger seq {body.get('seq')} ({body.get('action')}) observed SHA-256 "
                f"{hashed}, not the {expected} received",
            )
    return observed, expected


def _check_batch(item: Evidence, received: dict[str, Any], report: Report) -> None:
    """A query-log batch's row repeats what its receipt recorded (body hash, row count,
    Merkle root over the rows); its rows (append-only) must all be there."""
    batch = QueryLogBatch.objects.filter(evidence=item).first()
    if batch is None:
        report.fail_item(item, "query-log item without its batch")
        return
    details = received.get("details") or {}
    recorded = {
        "body_sha256": received.get("sha256_observed"),
        "rows": details.get("rows"),
        "merkle_root": details.get("merkle_root"),
    }
    for name, value in recorded.items():
        if value is not None and getattr(batch, name) != value:
            report.fail_item(
                item,
                f"query-log batch {batch.pk} altered: {name} is "
                f"{getattr(batch, name)}, the ledger recorded {value}",
            )
    if batch.incident_id != item.incident_id:
        report.fail_item(
            item, f"query-log batch {batch.pk} belongs to another incident"
        )
    stored = QueryLogRow.objects.filter(batch=batch).count()
    if details.get("rows") is not None and stored != details["rows"]:
        report.fail_item(
            item,
            f"query-log batch {batch.pk} holds {stored} rows; the ledger recorded "
            f"{details['rows']}",
        )


def _check_forensic_result(item: Evidence, report: Report) -> None:
    """A forensic result's row repeats its submission, whose bytes (just checked
    against the ledger) are the evidence: every field must still say the same."""
    result = (
        ForensicResult.objects.filter(evidence=item)
        .prefetch_related("artefacts")
        .first()
    )
    if result is None:
        report.fail_item(item, "forensic-result item without its result")
        return
    try:
        sent = json.loads(b"".join(blob_chunks(item.blob)))
    except (ValueError, OSError):
        report.fail_item(item, "forensic-result submission is not readable JSON")
        return
    if not isinstance(sent, dict):
        report.fail_item(item, "forensic-result submission is not a JSON object")
        return
    method, statistic = sent.get("method") or {}, sent.get("statistic") or {}
    stored = {
        "method": (result.method_family, result.method_name, result.method_version),
        "suspect_model": result.suspect_model,
        "parameters": result.parameters,
        "statistic": (result.statistic_name, result.statistic_value),
        "p_value": result.p_value,
        "alpha": result.alpha,
        "verdict": result.verdict,
        "summary": result.summary,
        "limitations": result.limitations,
        "artefacts": sorted(a.pk for a in result.artefacts.all()),
    }
    # Ids as sent, whatever their type: a mismatch is what this check reports.
    sent_artefacts: list[Any] = [
        a.get("id") for a in sent.get("artefacts") or [] if isinstance(a, dict)
    ]
    submitted = {
        "method": (method.get("family"), method.get("name"), method.get("version")),
        "suspect_model": sent.get("suspect_model"),
        "parameters": sent.get("parameters"),
        "statistic": (statistic.get("name"), statistic.get("value")),
        "p_value": sent.get("p_value"),
        "alpha": sent.get("alpha"),
        "verdict": sent.get("verdict"),
        "summary": sent.get("summary"),
        "limitations": sent.get("limitations"),
        "artefacts": sorted(sent_artefacts),
    }
    changed = [name for name in stored if stored[name] != submitted[name]]
    if changed:
        report.fail_item(
            item,
            f"forensic result {result.pk} row altered: {', '.join(changed)} "
            "no longer what was submitted",
        )


def _check_derived(item: Evidence, expected: str, report: Report) -> None:
    """Rows that repeat an item: a dossier's hash must be the received one, and a
    forensic result must say what its (intact) submission says."""
    if item.kind == Evidence.Kind.FORENSIC_RESULT and item.pk not in (
        report.failed_items
    ):
        _check_forensic_result(item, report)
    if item.kind == Evidence.Kind.DOSSIER:
        from dossiers.models import Dossier  # dossiers depends on evidence

        dossier = Dossier.objects.filter(evidence=item).first()
        if dossier is not None and dossier.sha256 not in ("", expected):
            report.fail_item(
                item,
                f"dossier {dossier.pk} row altered: it says SHA-256 {dossier.sha256}, "
                f"the ledger recorded {expected}",
            )


def _check_events(
    report: Report, exhibits: dict[int, str]
) -> tuple[list[bytes], dict[int, list[dict[str, Any]]]]:
    """Check every row of the ledger against its own hashed body and its item's chain;
    returns the leaf hashes recomputed from the bodies, in order, and the hashed
    bodies of each checked item's events, in order."""
    leaves: list[bytes] = []
    chains: dict[int, list[dict[str, Any]]] = {pk: [] for pk in exhibits}
    last_hash: dict[int, str] = {}
    expected_seq = 0
    for event in CustodyEvent.objects.order_by("seq").iterator(chunk_size=2000):
        name = exhibits.get(event.evidence_id)
        label = f"ledger seq {event.seq}"
        if event.seq != expected_seq:
            report.fail(
                name, f"{label}: expected position {expected_seq}; entries are missing"
            )
            expected_seq = event.seq
        expected_seq += 1
        encoded = event.body.encode()
        leaves.append(merkle.leaf_hash(encoded))
        if hashlib.sha256(encoded).hexdigest() != event.entry_hash:
            report.fail(
                name,
                f"{label} ({event.action}): entry hash does not match its contents",
            )
        if merkle.leaf_hash(encoded).hex() != event.leaf_hash:
            report.fail(
                name, f"{label} ({event.action}): leaf hash does not match its contents"
            )
        try:
            body = json.loads(event.body)
        except ValueError:
            report.fail(name, f"{label}: entry is not valid JSON")
            continue
        if not isinstance(body, dict):
            report.fail(name, f"{label}: entry is not a JSON object")
            continue
        for key, column in MIRRORED.items():
            if body.get(key) != getattr(event, column):
                report.fail(
                    name,
                    f"{label} ({event.action}): column {key} differs from the signed entry",
                )
        expected_prev = last_hash.get(event.evidence_id, GENESIS)
        if body.get("prev_hash") != expected_prev:
            report.fail(
                name, f"{label} ({event.action}): hash chain broken (prev_hash)"
            )
        last_hash[event.evidence_id] = event.entry_hash
        if event.evidence_id in chains:
            chains[event.evidence_id].append(body)
    return leaves, chains


def _check_tree(leaves: list[bytes], report: Report) -> None:
    tree = merkle.MerkleTree(leaves)
    head = LedgerHead.objects.filter(id=1).first()
    if head is not None:
        frontier = [(size, bytes.fromhex(h)) for size, h in head.frontier]
        if head.size != len(leaves) or merkle.frontier_root(frontier) != tree.root():
            report.fail(
                None,
                f"ledger head (size {head.size}) does not match the entries ({len(leaves)})",
            )
    key_id = signing.key_id()
    for checkpoint in Checkpoint.objects.order_by("tree_size"):
        label = f"checkpoint {checkpoint.tree_size}"
        message = signing.checkpoint_message(
            checkpoint.tree_size, checkpoint.root_hash, checkpoint.signed_at
        )
        if checkpoint.key_id != key_id:
            report.fail(
                None, f"{label}: signed with an unknown key {checkpoint.key_id}"
            )
        elif not signing.signature_is_valid(message, checkpoint.signature):
            report.fail(None, f"{label}: signature is not valid")
        if checkpoint.tree_size > len(leaves):
            report.fail(None, f"{label}: the ledger has only {len(leaves)} entries")
        elif tree.root(checkpoint.tree_size).hex() != checkpoint.root_hash:
            # Every checkpoint's root is recomputed from the same leaves, so a later
            # one agreeing proves it extends the earlier ones (append-only).
            report.fail(
                None, f"{label}: root does not match the ledger (history rewritten)"
            )


def custody_verify(
    *,
    incident: Incident | None,
    by: User | None,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Verify the incident's items (or all items) and the whole ledger.

    Every item's stored bytes, its row, and every hash the ledger observed for it
    are compared with the SHA-256 the ledger recorded when it was received, never
    with the (editable) row; query-log batches and dossiers also with what their
    receipt recorded. Records a `verified` event per item: an item that passed
    carries the received hash; one that failed carries no hash (`sha256_observed`
    null) and names what was found in `details`, so the ledger never states a
    replaced file's hash as the item's. A failure sets the incident's custody alert
    and is written to its history; a clean run clears it.

    `progress(items_hashed, items_total)` is called after each item's bytes were
    re-hashed and checked (a job shows it as its progress bar).
    """
    report = Report()
    items = list(
        (incident.evidence if incident else Evidence.objects)
        .select_related("blob", "incident")
        .order_by("incident_id", "exhibit_number")
    )
    report.checked = len(items)
    # Problems in other incidents' items are reported without naming them.
    exhibits = {item.pk: item.exhibit for item in items}
    ledger_report = Report()
    leaves, chains = _check_events(ledger_report, exhibits)
    observed: dict[int, Observed] = {}
    for done, item in enumerate(items, start=1):
        observed[item.pk], expected = _check_item(item, chains[item.pk], report)
        if expected is not None:
            if item.kind == Evidence.Kind.QUERY_LOG:
                _check_batch(item, chains[item.pk][0], report)
            _check_derived(item, expected, report)
        if progress is not None:
            progress(done, len(items))
    report.failures.extend(ledger_report.failures)
    _check_tree(leaves, report)
    incidents = {item.incident_id: item.incident for item in items}
    if incident is not None:
        incidents[incident.pk] = incident
    with transaction.atomic():
        # Incidents before the ledger (incidents/locks.py).
        locked = incidents_lock(incidents)
        if items:
            with custody_batch() as ledger:
                for item in items:
                    ledger.append(
                        evidence=item,
                        action=CustodyEvent.Action.VERIFIED,
                        by=by,
                        purpose="Custody verification",
                        **_verified(item, observed[item.pk], report),
                    )
        for case in locked.values():
            _flag(case, by, report)
    return report


def _verified(item: Evidence, observed: Observed, report: Report) -> dict[str, Any]:
    summary = {"ok": report.ok, "failures": len(report.failures)}
    if item.pk not in report.failed_items:
        # Equal to the hash received: checked above.
        return {"sha256_observed": observed.sha256, "details": summary}
    return {
        "sha256_observed": None,
        "details": {
            **summary,
            "item_ok": False,
            "found_sha256": observed.sha256,
            "found_size": observed.size if observed.sha256 else None,
        },
    }


def _flag(incident: Incident, by: User | None, report: Report) -> None:
    if report.ok and incident.custody_alert:
        incident.custody_alert, incident.custody_alert_at = "", None
        incident.save(update_fields=["custody_alert", "custody_alert_at"])
        history_record(
            incident=incident,
            actor=by,
            action="custody.verified",
            summary="Custody verification passed; alert cleared",
        )
    elif not report.ok:
        problems = "; ".join(
            f"{f.evidence or 'ledger'}: {f.problem}" for f in report.failures
        )
        incident.custody_alert, incident.custody_alert_at = (
            problems[:5000],
            timezone.now(),
        )
        incident.save(update_fields=["custody_alert", "custody_alert_at"])
        history_record(
            incident=incident,
            actor=by,
            action="custody.verification_failed",
            summary=f"Custody verification failed ({len(report.failures)} problems)",
            after={"failures": [f.as_dict() for f in report.failures[:50]]},
        )
