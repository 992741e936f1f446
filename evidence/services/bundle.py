"""The custody bundle: everything an outside expert needs to check an incident's
chain of custody with tools/verify.py, without trusting this server.

Format "casebook-custody-bundle/1" is described in tools/VERIFY.md.
"""

import json
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from config.errors import Conflict
from config.rfc3339 import format_utc
from evidence import merkle, signing
from evidence.models import Checkpoint, CustodyEvent, Evidence
from evidence.services.access import may_read_content, require_content_reader
from evidence.services.custody import (
    custody_batch,
    custody_received_sha256,
)
from evidence.services.storage import blob_chunks
from incidents.models import Incident

FORMAT = "casebook-custody-bundle/1"
MANIFEST_DOMAIN = b"casebook-custody-manifest/1\n"
TOOLS = Path(settings.BASE_DIR) / "tools"
_SAFE_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,8}$")


def _member_name(item: Evidence) -> str:
    suffix = Path(item.original_name).suffix
    return f"files/{item.exhibit}{suffix if _SAFE_SUFFIX.match(suffix) else ''}"


def _jsonl(rows: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


ProgressFn = Callable[[int, int], None]


def bundle_files_included(
    *, by: User, items: list[Evidence], include_files: bool = True
) -> set[int]:
    """The items (by id) whose bytes go into `by`'s bundle: all of them unless the
    bundle is hashes-only, less those whose contents `by` may not read."""
    return {
        item.pk
        for item in items
        if include_files and may_read_content(by, evidence=item)
    }


def bundle_open(output: IO[bytes]) -> zipfile.ZipFile:
    return zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED)


def bundle_write_files(
    *,
    bundle: zipfile.ZipFile,
    items: list[Evidence],
    with_file: set[int],
    progress: ProgressFn | None = None,
) -> None:
    """Copy the stored bytes of the `with_file` items into the bundle: the long part,
    done before anything is recorded and without holding the ledger.
    `progress(bytes_copied, bytes_total)` after each item."""
    total = sum(item.blob.size for item in items if item.pk in with_file)
    copied = 0
    for item in items:
        if item.pk not in with_file:
            continue
        try:
            with bundle.open(_member_name(item), "w", force_zip64=True) as member:
                for chunk in blob_chunks(item.blob):
                    member.write(chunk)
        except FileNotFoundError:
            raise Conflict(
                f"The stored file of {item.exhibit} is missing; no bundle was built "
                "and nothing was recorded. Verify the incident's custody."
            ) from None
        copied += item.blob.size
        if progress is not None:
            progress(copied, total)


def bundle_finish(
    *,
    bundle: zipfile.ZipFile,
    incident: Incident,
    by: User,
    items: list[Evidence],
    with_file: set[int],
) -> list[dict[str, Any]]:
    """Record an `exported` event for each item, write the ledger, checkpoints, proofs
    and signed manifest (which include those events), and close the zip. Must run
    inside the caller's transaction: an error anywhere here, or later before the
    commit, rolls the `exported` events back, so only a bundle that was completely
    built is ever recorded as exported. Returns what was recorded:
    [{"exhibit", "seq"}]."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("bundle_finish() needs an enclosing transaction")
    exported = []
    with custody_batch() as ledger:
        for item in items:
            event = ledger.append(
                evidence=item,
                action=CustodyEvent.Action.EXPORTED,
                by=by,
                purpose="Custody bundle export",
                # The hash received, not the row's (editable in the database): the
                # ledger never repeats a forged hash as the item's.
                sha256_observed=custody_received_sha256(item),
                details={"bundle": FORMAT, "files_included": item.pk in with_file},
            )
            exported.append({"exhibit": item.exhibit, "seq": event.seq})
    # The tree as of the newest checkpoint: the one just signed over these events
    # (the ledger stays locked until the caller commits).
    checkpoint = Checkpoint.objects.order_by("-tree_size").first()
    size = checkpoint.tree_size if checkpoint else 0
    leaves = [
        bytes.fromhex(h)
        for h in CustodyEvent.objects.filter(seq__lt=size)
        .order_by("seq")
        .values_list("leaf_hash", flat=True)
    ]
    tree = merkle.MerkleTree(leaves)
    checkpoints = list(
        Checkpoint.objects.filter(tree_size__lte=size).order_by("tree_size")
    )
    events = list(
        CustodyEvent.objects.filter(evidence__in=items, seq__lt=size).order_by("seq")
    )

    last_event: dict[int, CustodyEvent] = {}
    event_counts: dict[int, int] = {}
    for event in events:
        last_event[event.evidence_id] = event
        event_counts[event.evidence_id] = event_counts.get(event.evidence_id, 0) + 1
    manifest = {
        "format": FORMAT,
        "incident": incident.reference,
        "item_count": len(items),
        "title": incident.title,
        "generated_at": format_utc(timezone.now()),
        "generated_by": by.username,
        "tree_size": size,
        "key_id": signing.key_id(),
        "items": [
            {
                "id": item.pk,
                "exhibit": item.exhibit,
                "title": item.title,
                "original_name": item.original_name,
                "size": item.size,
                "sha256": item.sha256,
                "media_type": item.media_type,
                "file": _member_name(item) if item.pk in with_file else None,
                # Signed below: dropping an item's latest events or a whole item shows.
                "events": event_counts.get(item.pk, 0),
                "head_hash": last_event[item.pk].entry_hash
                if item.pk in last_event
                else None,
            }
            for item in items
        ],
    }
    ledger_rows = [
        {"seq": e.seq, "entry": json.loads(e.body), "entry_hash": e.entry_hash}
        for e in events
    ]
    inclusion = [
        {
            "seq": e.seq,
            "tree_size": size,
            "leaf_hash": e.leaf_hash,
            "path": [h.hex() for h in tree.inclusion_proof(e.seq, size)],
        }
        for e in events
    ]
    consistency = [
        {
            "first": a.tree_size,
            "second": b.tree_size,
            "path": [h.hex() for h in tree.consistency_proof(a.tree_size, b.tree_size)],
        }
        for a, b in zip(checkpoints, checkpoints[1:], strict=False)
    ]
    checkpoint_rows = [
        {
            "tree_size": c.tree_size,
            "root_hash": c.root_hash,
            "signed_at": c.signed_at,
            "key_id": c.key_id,
            "signature": c.signature,
        }
        for c in checkpoints
    ]

    manifest_bytes = json.dumps(manifest, indent=2, ensure_ascii=False).encode()
    bundle.writestr("manifest.json", manifest_bytes)
    # Signed, so an exhibit or an item's latest events cannot be left out unseen.
    bundle.writestr("manifest.sig", signing.sign(MANIFEST_DOMAIN + manifest_bytes))
    bundle.writestr("ledger.jsonl", _jsonl(ledger_rows))
    bundle.writestr("checkpoints.jsonl", _jsonl(checkpoint_rows))
    bundle.writestr("proofs/inclusion.jsonl", _jsonl(inclusion))
    bundle.writestr("proofs/consistency.jsonl", _jsonl(consistency))
    bundle.writestr("public_key.pem", signing.public_key_pem())
    bundle.write(TOOLS / "VERIFY.md", "VERIFY.md")
    bundle.write(TOOLS / "verify.py", "verify.py")
    bundle.close()  # writes the central directory: the zip is complete only now
    return exported


def custody_bundle_build(
    *, incident: Incident, by: User, items: list[Evidence], include_files: bool = True
) -> IO[bytes]:
    """Build the bundle for `items` (those the caller may see) in a temporary file,
    inside this request; deleted when closed. An item whose contents the caller may
    not read (`may_read_content`) is listed with its hash, without file.

    The files are copied first; then, in one transaction, each item gets its
    `exported` event and the ledger (holding those events) is written and the zip
    closed. A failure while building records nothing."""
    require_content_reader(by)
    with_file = bundle_files_included(by=by, items=items, include_files=include_files)
    output = tempfile.TemporaryFile()  # noqa: SIM115  (handed to the response, which closes it)
    try:
        bundle = bundle_open(output)
        try:
            bundle_write_files(bundle=bundle, items=items, with_file=with_file)
            with transaction.atomic():
                bundle_finish(
                    bundle=bundle,
                    incident=incident,
                    by=by,
                    items=items,
                    with_file=with_file,
                )
        finally:
            bundle.close()
    except BaseException:
        output.close()
        raise
    output.seek(0)
    return output
