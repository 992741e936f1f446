"""The custody bundle: everything an outside expert needs to check an incident's
chain of custody with tools/verify.py, without trusting this server.

Format "casebook-custody-bundle/1" is described in tools/VERIFY.md.
"""

import json
import re
import tempfile
import zipfile
from pathlib import Path
from typing import IO

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from evidence import merkle, signing
from evidence.models import Checkpoint, CustodyEvent, Evidence
from evidence.services.access import may_read_content, require_content_reader
from evidence.services.custody import (
    custody_batch,
    custody_received_sha256,
    rfc3339,
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


def _jsonl(rows) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def custody_bundle_build(
    *, incident: Incident, by: User, items: list[Evidence], include_files: bool = True
) -> IO[bytes]:
    """Write the bundle for `items` (those the caller may see) to a temporary file.

    Records an `exported` custody event for each item first, so the bundle contains
    its own export; the file is deleted when closed. An item whose contents the
    caller may not read (`may_read_content`) is listed with its hash, without file.
    """
    require_content_reader(by)
    with_file = {
        item.pk
        for item in items
        if include_files and may_read_content(by, evidence=item)
    }
    with transaction.atomic(), custody_batch() as ledger:
        for item in items:
            ledger.append(
                evidence=item,
                action=CustodyEvent.Action.EXPORTED,
                by=by,
                purpose="Custody bundle export",
                # The hash received, not the row's (editable in the database): the
                # ledger never repeats a forged hash as the item's.
                sha256_observed=custody_received_sha256(item),
                details={"bundle": FORMAT, "files_included": item.pk in with_file},
            )
    # The tree as of the newest checkpoint; later appends by others are not included.
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
        "generated_at": rfc3339(timezone.now()),
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

    output = tempfile.TemporaryFile()  # noqa: SIM115  (handed to the response, which closes it)
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
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
        for item in items:
            if item.pk in with_file:
                with bundle.open(_member_name(item), "w", force_zip64=True) as member:
                    for chunk in blob_chunks(item.blob):
                        member.write(chunk)
    output.seek(0)
    return output
