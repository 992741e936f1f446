"""Evidence bytes are published under their hash in one step: complete, read-only and
verified, or not at all, however many uploads of the same bytes arrive at once."""

import hashlib
import os
import stat
import threading
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import InMemoryStorage, default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from evidence.models import Blob
from evidence.services.storage import blob_chunks, blob_store, storage_name_for

CONTENT = b"timestamp,account,prompt\n" + b"1,acct_7,summarise step by step\n" * 40_000


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def store(data: bytes = CONTENT, claimed: str | None = None) -> Blob:
    return blob_store(
        source=SimpleUploadedFile("log.csv", data),
        sha256=claimed or sha(data),
        size=len(data),
    )


def stored_path(settings, data: bytes = CONTENT) -> Path:
    return Path(settings.MEDIA_ROOT) / storage_name_for(sha(data))


def folder_listing(settings) -> list[str]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_stored_bytes_are_read_only_under_their_hash(settings, db):
    # when
    blob = store()
    # then
    path = stored_path(settings)
    assert path.read_bytes() == CONTENT
    assert stat.S_IMODE(path.stat().st_mode) == 0o440
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o750
    assert blob.storage_name == storage_name_for(sha(CONTENT))
    assert folder_listing(settings) == [blob.storage_name]


@pytest.mark.django_db(transaction=True)
def test_two_uploads_of_the_same_bytes_at_once_both_succeed_with_one_copy(settings):
    # given: several rounds, so the two writers overlap at some point in each
    rounds, errors, blobs = 20, [], []

    def upload(data: bytes, barrier: threading.Barrier) -> None:
        try:
            barrier.wait()
            blobs.append(store(data))
        except Exception as error:  # surfaced below; a thread cannot fail the test
            errors.append(error)
        finally:
            connection.close()

    for n in range(rounds):
        data = CONTENT + f"round {n}\n".encode()
        barrier = threading.Barrier(2)
        # when
        threads = [
            threading.Thread(target=upload, args=(data, barrier)) for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    # then
    assert errors == []
    assert len(blobs) == 2 * rounds
    assert Blob.objects.count() == rounds
    assert len({blob.pk for blob in blobs}) == rounds
    for blob in Blob.objects.all():
        path = Path(settings.MEDIA_ROOT) / blob.storage_name
        assert sha(path.read_bytes()) == blob.sha256
        assert stat.S_IMODE(path.stat().st_mode) == 0o440
    # no temporary file and no second copy is left behind
    assert folder_listing(settings) == sorted(
        Blob.objects.values_list("storage_name", flat=True)
    )


def test_a_copy_already_published_under_the_name_is_kept(settings, db):
    # given: the bytes are on disk (an upload that stopped before its database row)
    path = stored_path(settings)
    path.parent.mkdir(parents=True)
    path.write_bytes(CONTENT)
    path.chmod(0o440)
    inode = path.stat().st_ino
    # when
    blob = store()
    # then
    assert blob.sha256 == sha(CONTENT)
    assert path.stat().st_ino == inode
    assert folder_listing(settings) == [blob.storage_name]


def test_unreferenced_other_bytes_under_the_name_are_set_aside(settings, db):
    # given: a file no Blob refers to holds other bytes under the name (an older
    # writer was interrupted, or someone put it there)
    path = stored_path(settings)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"truncated")
    # when
    blob = store()
    # then: the right bytes are published, the others kept beside them
    assert path.read_bytes() == CONTENT
    assert blob.sha256 == sha(CONTENT)
    name = storage_name_for(sha(CONTENT))
    listing = folder_listing(settings)
    assert listing[0] == name and len(listing) == 2
    assert listing[1].startswith(f"{name}.unreferenced-")
    assert (path.parent / listing[1].rsplit("/", 1)[-1]).read_bytes() == b"truncated"


def test_bytes_that_do_not_match_the_received_hash_store_nothing(settings, db):
    # when: the temporary upload changed after it was hashed
    with pytest.raises(OSError, match="did not match"):
        store(CONTENT, claimed=sha(b"what was received"))
    # then
    assert not Blob.objects.exists()
    assert folder_listing(settings) == []


class ObjectStore(InMemoryStorage):
    """Uploads the way boto3 does: reads the whole body for a checksum, seeks back,
    reads it again to send it; and, like S3Storage with file_overwrite=False, saves
    under another name when the name is taken."""

    def _save(self, name, content):
        content.seek(0)
        while content.read(64 * 1024):
            pass
        content.seek(0)
        body = b"".join(iter(lambda: content.read(64 * 1024), b""))
        return super()._save(name, ContentFile(body))


@pytest.fixture
def object_store(settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": f"{__name__}.ObjectStore"},
    }
    assert isinstance(default_storage, ObjectStore)
    return default_storage


def test_an_object_store_gets_the_bytes_under_their_hash(object_store, db):
    # when
    blob = store()
    # then
    assert b"".join(blob_chunks(blob)) == CONTENT
    assert object_store.listdir("evidence/sha256/" + blob.sha256[:2]) == (
        [],
        [blob.sha256],
    )


def test_an_object_store_name_taken_by_the_same_bytes_counts_as_stored(
    object_store, db
):
    # given: a concurrent upload of the same bytes finished first
    name = storage_name_for(sha(CONTENT))
    object_store.save(name, ContentFile(CONTENT))
    # when
    blob = store()
    # then: the second copy, saved under another name, is gone again
    assert blob.storage_name == name
    assert object_store.listdir(os.path.dirname(name)) == ([], [sha(CONTENT)])


def test_an_object_store_name_holding_other_bytes_is_set_aside_and_replaced(
    object_store, db
):
    # given: an object no Blob refers to holds other bytes under the name
    name = storage_name_for(sha(CONTENT))
    object_store.save(name, ContentFile(b"tampered"))
    # when
    blob = store()
    # then: the right bytes are stored under the name, the others kept beside them
    assert blob.storage_name == name
    assert b"".join(blob_chunks(blob)) == CONTENT
    _, files = object_store.listdir(os.path.dirname(name))
    assert sorted(files)[0] == sha(CONTENT) and len(files) == 2
    assert sorted(files)[1].startswith(f"{sha(CONTENT)}.unreferenced-")
    aside = f"{os.path.dirname(name)}/{sorted(files)[1]}"
    with object_store.open(aside, "rb") as handle:
        assert handle.read() == b"tampered"
