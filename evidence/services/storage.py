"""Evidence bytes in Django's storage, named by SHA-256 and written once."""

import hashlib
from collections.abc import Iterator

import filetype
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from evidence.models import Blob

CHUNK = 1024 * 1024


def storage_name_for(sha256: str) -> str:
    return f"evidence/sha256/{sha256[:2]}/{sha256}"


def detect_media_type(head: bytes, original_name: str = "") -> str:
    kind = filetype.guess(head)
    if kind is not None:
        return kind.mime
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # A multi-byte character may be cut at the sniffing boundary.
        try:
            text = head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return "application/octet-stream"
    lower = original_name.lower()
    stripped = text.lstrip()
    if lower.endswith((".ndjson", ".jsonl")):
        return "application/x-ndjson"
    if stripped.startswith(("{", "[")) and lower.endswith(".json"):
        return "application/json"
    if lower.endswith(".csv"):
        return "text/csv"
    return "text/plain"


class _HashingFile(File):
    """Feeds every chunk the storage backend reads to `digest` on the way."""

    def __init__(self, source: File, digest, name: str) -> None:
        super().__init__(source, name=name)
        self.source, self.digest = source, digest

    def chunks(self, chunk_size=None):
        for chunk in self.source.chunks(CHUNK):
            self.digest.update(chunk)
            yield chunk


def blob_store(*, source: File, sha256: str, size: int) -> Blob:
    """Keep `source` under its hash unless those bytes are already stored.

    The caller computed `sha256` while receiving; the copy is hashed again as it is
    written, and a mismatch (the temporary file changed underneath) stores nothing.
    """
    existing = Blob.objects.filter(sha256=sha256).first()
    if existing is not None:
        return existing
    name = storage_name_for(sha256)
    if not default_storage.exists(name):
        digest = hashlib.sha256()
        source.seek(0)
        saved = default_storage.save(name, _HashingFile(source, digest, name=name))
        if saved != name or digest.hexdigest() != sha256:
            default_storage.delete(saved)
            raise OSError(f"stored copy of {sha256} did not match what was received")
    try:
        with transaction.atomic():
            return Blob.objects.create(sha256=sha256, size=size, storage_name=name)
    except IntegrityError:  # another upload of the same bytes won the race
        return Blob.objects.get(sha256=sha256)


def blob_chunks(blob: Blob) -> Iterator[bytes]:
    with default_storage.open(blob.storage_name, "rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def blob_rehash(blob: Blob) -> tuple[str | None, int]:
    """SHA-256 and size of the bytes in storage now; (None, 0) when they are gone."""
    digest, size = hashlib.sha256(), 0
    try:
        for chunk in blob_chunks(blob):
            digest.update(chunk)
            size += len(chunk)
    except FileNotFoundError:
        return None, 0
    return digest.hexdigest(), size
