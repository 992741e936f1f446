"""Evidence bytes in Django's storage, named by SHA-256 and written once."""

import contextlib
import hashlib
import logging
import os
import tempfile
import uuid
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING

import filetype
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, default_storage
from django.db import IntegrityError, transaction
from django.utils._os import safe_makedirs

from config.errors import InsufficientStorage
from evidence.models import Blob

if TYPE_CHECKING:
    from _hashlib import HASH

    _BytesFile = File[bytes]
else:
    _BytesFile = File  # Django's File takes no type arguments at run time

logger = logging.getLogger(__name__)

CHUNK = 1024 * 1024


def storage_name_for(sha256: str) -> str:
    return f"evidence/sha256/{sha256[:2]}/{sha256}"


def detect_media_type(head: bytes, original_name: str = "") -> str:
    kind = filetype.guess(head)
    if kind is not None:
        mime: str = kind.mime
        return mime
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


class _HashingFile(_BytesFile):
    """Feeds each byte the storage backend reads to `digest`, once.

    Backends read through `chunks()` or `read()` and may seek back to read again (boto3
    checksums the body before sending it); only bytes past what was already hashed
    count, so a reread adds nothing and a skipped byte leaves the digest wrong.
    """

    file: IO[bytes]  # the source, as File.__init__ keeps it

    def __init__(self, source: "File[bytes]", digest: "HASH", name: str) -> None:
        super().__init__(source, name=name)
        self.digest, self.position, self.hashed = digest, 0, 0

    def read(self, size: int = -1) -> bytes:
        data = self.file.read(size)
        end = self.position + len(data)
        if self.position <= self.hashed < end:
            self.digest.update(data[self.hashed - self.position :])
            self.hashed = end
        self.position = end
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        self.file.seek(offset, whence)
        self.position = self.file.tell()
        return self.position


def _mismatch(sha256: str) -> OSError:
    return OSError(f"stored copy of {sha256} did not match what was received")


def _stored_sha256(storage: Storage, name: str) -> str | None:
    """SHA-256 of what `storage` holds under `name`; None when it holds nothing."""
    digest = hashlib.sha256()
    try:
        with storage.open(name, "rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
    except FileNotFoundError:
        return None
    return digest.hexdigest()


def _publish_to_folder(
    storage: FileSystemStorage, name: str, source: "File[bytes]", sha256: str
) -> None:
    """Write `source` to a temporary file beside `name`, then link it to `name`.

    A name appears complete, read-only and with the right bytes, or not at all; when an
    upload of the same bytes published it first, its copy is checked and kept.
    """
    final = storage.path(name)
    folder = os.path.dirname(final)
    if storage.directory_permissions_mode is None:
        os.makedirs(folder, exist_ok=True)
    else:
        safe_makedirs(folder, storage.directory_permissions_mode, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".incoming-")
    try:
        digest = hashlib.sha256()
        with os.fdopen(handle, "wb") as out:
            source.seek(0)
            for chunk in source.chunks(CHUNK):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != sha256:
            raise _mismatch(sha256)
        if storage.file_permissions_mode is not None:
            os.chmod(temporary, storage.file_permissions_mode)
        try:
            os.link(temporary, final)  # never replaces an existing name
        except FileExistsError:
            if _stored_sha256(storage, name) != sha256:
                _set_aside_and_replace(final, temporary)
        _fsync_folder(folder)
    finally:
        with contextlib.suppress(FileNotFoundError):  # published by os.replace
            os.unlink(temporary)


def _set_aside_and_replace(final: str, temporary: str) -> None:
    """`final` holds other bytes, and no Blob refers to them (blob_store returns the
    existing Blob before publishing): a file an interrupted older writer left, or one
    put there by hand. Keep those bytes beside it for investigation and publish the
    right ones in one step; a racing upload of the same content has the same bytes,
    so replacing its copy changes nothing."""
    aside = f"{final}.unreferenced-{uuid.uuid4().hex}"
    os.link(final, aside)
    os.replace(temporary, final)
    logger.warning("Stored file %s did not hold its hash; kept it as %s", final, aside)


def _fsync_folder(folder: str) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _publish_to_object_store(
    storage: Storage, name: str, source: "File[bytes]", sha256: str
) -> None:
    """Upload `source` as `name` to an object store (S3), which shows an object only
    once its upload is complete.

    An object already under `name` with these bytes counts as stored; one with other
    bytes (no Blob refers to it: blob_store returns an existing Blob first) is kept
    aside and replaced. Two uploads of the same bytes may both write `name` (the same
    content either way); a storage that keeps existing names saves the later one under
    another name, which is dropped once the copy under `name` is checked.
    """
    held = _stored_sha256(storage, name)
    if held == sha256:
        return
    if held is not None:
        _set_object_aside(storage, name)
    digest = hashlib.sha256()
    source.seek(0)
    saved = storage.save(name, _HashingFile(source, digest, name=name))
    if digest.hexdigest() != sha256:
        storage.delete(saved)
        raise _mismatch(sha256)
    if saved != name:
        storage.delete(saved)
        if _stored_sha256(storage, name) != sha256:
            raise OSError(f"{name} is stored but does not hold {sha256}")


def _set_object_aside(storage: Storage, name: str) -> None:
    """Copy the object under `name` beside it for investigation, then remove it."""
    aside = f"{name}.unreferenced-{uuid.uuid4().hex}"
    with storage.open(name, "rb") as handle:
        storage.save(aside, handle)
    storage.delete(name)
    logger.warning("Stored object %s did not hold its hash; kept it as %s", name, aside)


def blob_store(*, source: "File[bytes]", sha256: str, size: int) -> Blob:
    """Keep `source` under its hash unless those bytes are already stored.

    The caller computed `sha256` while receiving; the copy is hashed again as it is
    written, and a mismatch (the temporary file changed underneath) stores nothing.
    The bytes are published under their name in one step, so concurrent uploads of the
    same bytes, and readers, never see a partial file; on local disk the file is
    read-only (FILE_UPLOAD_PERMISSIONS) before it gets its name.
    """
    existing = Blob.objects.filter(sha256=sha256).first()
    if existing is not None:
        return existing
    name = storage_name_for(sha256)
    if isinstance(default_storage, FileSystemStorage):
        try:
            _publish_to_folder(default_storage, name, source, sha256)
        except OSError as error:
            if error.errno not in InsufficientStorage.ERRNOS:
                raise
            # The partial temporary file is already gone (_publish_to_folder's finally).
            logger.error("No space left to store %s: %s", name, error)
            raise InsufficientStorage() from error
    else:
        _publish_to_object_store(default_storage, name, source, sha256)
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
