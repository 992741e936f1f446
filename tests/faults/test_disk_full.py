"""A full disk during an upload: the media root is a small tmpfs mounted for the test,
so writes fail with the kernel's own ENOSPC. Nothing may be left behind: no partial
file, no Blob, no evidence row, no custody event, no query-log row."""

import gzip
import os
import subprocess
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from evidence.models import (
    Blob,
    CustodyEvent,
    Evidence,
    QueryLogBatch,
    QueryLogFacet,
    QueryLogRow,
)
from tests.factories import UserFactory, make_incident, make_token

SIZE = "256k"


@pytest.fixture
def full_disk(tmp_path, settings):
    """A 256 KiB file system as the media root; (path, remount(size))."""
    if os.geteuid() != 0:
        # Never skipped in CI: there a run without root is a failure.
        (pytest.fail if os.environ.get("CI") else pytest.skip)(
            "mounting a tmpfs needs root (CI runs as root)"
        )
    mount = tmp_path / "media"
    mount.mkdir()
    subprocess.run(  # noqa: S603
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0755", "tmpfs", str(mount)],
        check=True,
    )
    settings.MEDIA_ROOT = mount

    def remount(size: str) -> None:
        subprocess.run(  # noqa: S603
            ["mount", "-o", f"remount,size={size}", str(mount)], check=True
        )

    try:
        yield mount, remount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)  # noqa: S603


def files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


def client(user, scope: str = "write") -> APIClient:
    api = APIClient(raise_request_exception=False)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user, scope)}")
    return api


def nothing_stored() -> bool:
    return (
        Evidence.objects.count(),
        Blob.objects.count(),
        CustodyEvent.objects.count(),
    ) == (0, 0, 0)


@pytest.fixture
def case(db):
    analyst = UserFactory(role="analyst")
    detector = UserFactory(role="service")
    return make_incident(by=analyst, members=[detector]), analyst, detector


def test_an_upload_onto_a_full_disk_leaves_no_partial_file_and_no_evidence(
    case, full_disk
):
    incident, analyst, _ = case
    media, remount = full_disk
    path = f"/api/v1/incidents/{incident.reference}/evidence/"
    content = os.urandom(1024 * 1024)
    form = {"title": "Gateway capture"}
    # when
    response = client(analyst).post(
        path, {"file": SimpleUploadedFile("capture.bin", content), **form}, "multipart"
    )
    # then
    assert response.status_code == 507, response.content
    assert "space" in response.json()["detail"]
    assert nothing_stored()
    assert files_under(media) == []
    # when: space is freed, the same upload is kept
    remount("8m")
    response = client(analyst).post(
        path, {"file": SimpleUploadedFile("capture.bin", content), **form}, "multipart"
    )
    assert response.status_code == 201, response.content
    assert len(files_under(media)) == 1


def test_an_upload_whose_temporary_file_fills_the_disk_leaves_nothing(
    case, full_disk, settings
):
    incident, analyst, _ = case
    media, _ = full_disk
    settings.FILE_UPLOAD_TEMP_DIR = str(media)  # received bytes land there first
    # when
    response = client(analyst).post(
        f"/api/v1/incidents/{incident.reference}/evidence/",
        {
            "file": SimpleUploadedFile("capture.bin", os.urandom(1024 * 1024)),
            "title": "Gateway capture",
        },
        "multipart",
    )
    # then
    assert response.status_code == 507, response.content
    assert nothing_stored()
    assert files_under(media) == []


def test_a_query_log_batch_onto_a_full_disk_stores_no_row_and_no_file(case, full_disk):
    incident, _, detector = case
    media, _ = full_disk
    records = b"".join(
        b'{"timestamp": "2026-03-01T10:00:%02dZ", "account_id": "acct-%d", '
        b'"prompt": "%s"}\n' % (n % 60, n % 7, os.urandom(64).hex().encode())
        for n in range(5000)
    )
    body = gzip.compress(records, compresslevel=1)
    assert len(body) > 300 * 1024  # more than the file system holds
    # when
    response = client(detector, "ingest").generic(
        "POST",
        f"/api/v1/incidents/{incident.reference}/query-logs/",
        body,
        content_type="application/x-ndjson",
        HTTP_CONTENT_ENCODING="gzip",
    )
    # then
    assert response.status_code == 507, response.content
    assert nothing_stored()
    assert QueryLogBatch.objects.count() == 0
    assert QueryLogRow.objects.count() == 0
    assert QueryLogFacet.objects.count() == 0
    assert files_under(media) == []
