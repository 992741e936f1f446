"""Re-checking everything the ledger promises: stored bytes, per-item chains, the
Merkle tree, and every signed checkpoint. Used by the API, the command and the
daily job."""

import hashlib
import json
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from evidence import merkle, signing
from evidence.models import Checkpoint, CustodyEvent, Evidence, LedgerHead
from evidence.services.custody import GENESIS, custody_batch
from evidence.services.storage import blob_rehash
from incidents.history import history_record
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

    def as_dict(self) -> dict:
        return {"evidence": self.evidence, "problem": self.problem}


@dataclass
class Report:
    checked: int = 0
    failures: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def fail(self, evidence: str | None, problem: str) -> None:
        self.failures.append(Failure(evidence, problem))


def _check_files(items: list[Evidence], report: Report) -> dict[int, str | None]:
    observed: dict[int, str | None] = {}
    for item in items:
        sha256, size = blob_rehash(item.blob)
        observed[item.pk] = sha256
        if sha256 is None:
            report.fail(item.exhibit, "stored file is missing")
        elif sha256 != item.sha256 or size != item.size:
            report.fail(
                item.exhibit,
                f"stored file altered: SHA-256 is now {sha256} ({size} bytes), "
                f"recorded {item.sha256} ({item.size} bytes)",
            )
    return observed


def _check_events(report: Report, exhibits: dict[int, str]) -> list[bytes]:
    """Check every row of the ledger against its own hashed body and its item's chain;
    returns the leaf hashes recomputed from the bodies, in order."""
    leaves: list[bytes] = []
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
    return leaves


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


def custody_verify(*, incident: Incident | None, by: User | None) -> Report:
    """Verify the incident's items (or all items) and the whole ledger.

    Records a `verified` event per item with the hash observed now. A failure sets
    the incident's custody alert and is written to its history; a clean run clears it.
    """
    report = Report()
    items = list(
        (incident.evidence if incident else Evidence.objects)
        .select_related("blob", "incident")
        .order_by("incident_id", "exhibit_number")
    )
    report.checked = len(items)
    observed = _check_files(items, report)
    # Problems in other incidents' items are reported without naming them.
    exhibits = {item.pk: item.exhibit for item in items}
    _check_tree(_check_events(report, exhibits), report)
    incidents = {item.incident_id: item.incident for item in items}
    if incident is not None:
        incidents[incident.pk] = incident
    with transaction.atomic():
        # Incidents before the ledger: the same lock order as every other writer.
        locked = {
            pk: Incident.objects.select_for_update(no_key=True).get(pk=pk)
            for pk in sorted(incidents)
        }
        if items:
            with custody_batch() as ledger:
                for item in items:
                    ledger.append(
                        evidence=item,
                        action=CustodyEvent.Action.VERIFIED,
                        by=by,
                        purpose="Custody verification",
                        sha256_observed=observed[item.pk],
                        details={"ok": report.ok, "failures": len(report.failures)},
                    )
        for case in locked.values():
            _flag(case, by, report)
    return report


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
