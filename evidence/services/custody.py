"""The custody ledger: appends, per-item hash chains and signed checkpoints.

Every writer goes through `custody_batch()`, which locks the single LedgerHead row
for the rest of the caller's transaction, after any other lock it takes (the lock
order of every writer, incidents/locks.py). Positions are therefore handed out one
writer at a time, never forked or reused, and a rolled-back transaction gives its
positions back. When the batch ends, a checkpoint over the new tree is signed.
"""

import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from accounts.models import User
from config.canonical import canonical_json
from config.rfc3339 import format_utc
from evidence import merkle, signing
from evidence.models import Checkpoint, CustodyEvent, Evidence, LedgerHead

GENESIS = "0" * 64


class Ledger:
    """An open batch of appends; only `custody_batch()` makes one."""

    def __init__(self, head: LedgerHead) -> None:
        self.head = head
        self.frontier = [(size, bytes.fromhex(h)) for size, h in head.frontier]
        self.appended = 0

    def append(
        self,
        *,
        evidence: Evidence,
        action: str,
        by: User | None,
        purpose: str = "",
        location: str = "",
        sha256_observed: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> CustodyEvent:
        if action not in CustodyEvent.Action.values:
            raise ValueError(f"unknown custody action {action!r}")
        last = CustodyEvent.objects.filter(evidence=evidence).order_by("-seq").first()
        at = timezone.now()
        actor_name = by.username if by else "system"
        body: dict[str, Any] = {
            "v": 1,
            "seq": self.head.size,
            "evidence": evidence.pk,
            "incident": evidence.incident.reference,
            "exhibit": evidence.exhibit,
            "action": action,
            "actor": actor_name,
            "at": format_utc(at),
            "location": location or "",
            "purpose": purpose or "",
            "sha256_observed": sha256_observed,
            "prev_hash": last.entry_hash if last else GENESIS,
            "details": details or {},
        }
        encoded = canonical_json(body, allow_nan=True)
        leaf = merkle.leaf_hash(encoded)
        event = CustodyEvent.objects.create(
            seq=body["seq"],
            evidence=evidence,
            action=action,
            actor=by,
            actor_name=actor_name,
            at=at,
            location=body["location"],
            purpose=body["purpose"],
            sha256_observed=sha256_observed,
            details=body["details"],
            prev_hash=body["prev_hash"],
            entry_hash=hashlib.sha256(encoded).hexdigest(),
            leaf_hash=leaf.hex(),
            body=encoded.decode(),
        )
        self.frontier = merkle.frontier_append(self.frontier, leaf)
        self.head.size += 1
        self.appended += 1
        return event

    def close(self) -> Checkpoint | None:
        if not self.appended:
            return None
        self.head.frontier = [[size, h.hex()] for size, h in self.frontier]
        self.head.save(update_fields=["size", "frontier"])
        return _sign_checkpoint(self.head.size, merkle.frontier_root(self.frontier))


def _sign_checkpoint(tree_size: int, root: bytes) -> Checkpoint:
    signed_at = format_utc(timezone.now())
    message = signing.checkpoint_message(tree_size, root.hex(), signed_at)
    return Checkpoint.objects.create(
        tree_size=tree_size,
        root_hash=root.hex(),
        signed_at=signed_at,
        key_id=signing.key_id(),
        signature=signing.sign(message),
    )


@contextmanager
def custody_batch() -> Iterator[Ledger]:
    """Lock the ledger for the caller's transaction and sign a checkpoint at the end.

    Must run inside `transaction.atomic()`; the lock is held until that commits.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("custody_batch() needs an enclosing transaction")
    # The row comes from a migration; this covers a database flushed by tests.
    LedgerHead.objects.bulk_create([LedgerHead(id=1)], ignore_conflicts=True)
    head = LedgerHead.objects.select_for_update().get(id=1)
    ledger = Ledger(head)
    yield ledger
    ledger.close()


def custody_record(
    *,
    evidence: Evidence,
    action: str,
    by: User | None,
    purpose: str = "",
    location: str = "",
    sha256_observed: str | None = None,
    details: dict[str, Any] | None = None,
) -> CustodyEvent:
    """Append one event in its own transaction and sign a checkpoint after it."""
    with transaction.atomic(), custody_batch() as ledger:
        return ledger.append(
            evidence=evidence,
            action=action,
            by=by,
            purpose=purpose,
            location=location,
            sha256_observed=sha256_observed,
            details=details,
        )


def checkpoint_latest() -> Checkpoint | None:
    return Checkpoint.objects.order_by("-tree_size").first()


# The events that open an item's chain and carry the hash of the bytes as received.
FIRST_ACTIONS = (CustodyEvent.Action.RECEIVED, CustodyEvent.Action.INGESTED)


def custody_received_sha256(evidence: Evidence) -> str | None:
    """The SHA-256 the ledger recorded when the item was received: the reference its
    bytes are compared with. The `evidence_evidence` row's own `sha256` can be
    edited by whoever administers the database; the ledger cannot without showing.
    None when the item's chain does not open with a receipt (a forged row)."""
    first = (
        CustodyEvent.objects.filter(evidence=evidence)
        .order_by("seq")
        .values_list("action", "sha256_observed")
        .first()
    )
    if first is None or first[0] not in FIRST_ACTIONS:
        return None
    return first[1]


def custody_received_hashes(evidence_ids: Iterable[int]) -> dict[int, str | None]:
    """`custody_received_sha256` of many items at once (two queries): the hash each
    one's receipt recorded, None for an item whose chain does not open with one.
    Every event the server writes about existing items carries this hash, never the
    editable row's, so a forged row cannot put a forged hash into the ledger."""
    ids = list(evidence_ids)
    first_seqs = (
        CustodyEvent.objects.filter(evidence_id__in=ids)
        .values("evidence_id")
        .annotate(first=Min("seq"))
        .values_list("first", flat=True)
    )
    received: dict[int, str | None] = {pk: None for pk in ids}
    for evidence_id, action, sha256 in CustodyEvent.objects.filter(
        seq__in=list(first_seqs)
    ).values_list("evidence_id", "action", "sha256_observed"):
        if action in FIRST_ACTIONS:
            received[evidence_id] = sha256
    return received
