"""HEAD on a download answers the download's headers after the same checks, sends no
bytes and so records no act of custody."""

import os
from pathlib import Path

import pytest

from evidence.models import Blob, CustodyEvent
from incidents.models import HistoryEntry
from tests.evidence.conftest import upload


def state() -> tuple:
    return CustodyEvent.objects.count(), HistoryEntry.objects.count()


def test_head_on_an_evidence_download_answers_its_headers_and_records_nothing(
    item, analyst, api
):
    client = api(analyst)
    before = state()
    head = client.head(item["download_url"])
    assert head.status_code == 200
    assert head.content == b""
    assert state() == before
    assert not CustodyEvent.objects.filter(action="downloaded").exists()
    # the same headers as the download itself
    get = client.get(item["download_url"])
    b"".join(get.streaming_content)
    for header in (
        "Content-Length",
        "Repr-Digest",
        "Content-Type",
        "Content-Disposition",
        "X-Evidence-Media-Type",
    ):
        assert head[header] == get[header], header
    assert head["Content-Length"] == str(item["size"])
    assert CustodyEvent.objects.filter(action="downloaded").count() == 1


@pytest.mark.parametrize(
    ("caller", "expected"),
    [("anonymous", 401), ("outsider", 404), ("service_user", 403), ("reviewer", 200)],
)
def test_head_on_an_evidence_download_is_refused_as_the_download_is(
    caller, expected, item, request, api
):
    client = api() if caller == "anonymous" else api(request.getfixturevalue(caller))
    before = state()
    assert client.head(item["download_url"]).status_code == expected
    assert client.get(item["download_url"]).status_code == expected
    if expected != 200:
        assert state() == before


def test_head_on_altered_bytes_answers_409_and_records_nothing(
    item, analyst, api, settings
):
    path = Path(settings.MEDIA_ROOT) / Blob.objects.get().storage_name
    os.chmod(path, 0o640)
    path.write_bytes(b"tampered")
    before = state()
    assert api(analyst).head(item["download_url"]).status_code == 409
    assert state() == before


def test_head_on_the_custody_bundle_neither_builds_nor_records_an_export(
    item, incident, analyst, service_user, api
):
    url = f"/api/v1/incidents/{incident.reference}/custody-bundle/"
    before = state()
    head = api(analyst).head(url)
    assert head.status_code == 200
    assert head["Content-Type"] == "application/zip"
    assert f"{incident.reference}-custody-bundle.zip" in head["Content-Disposition"]
    assert api(service_user).head(url).status_code == 403
    assert state() == before
    assert not CustodyEvent.objects.filter(action="exported").exists()


@pytest.fixture
def dossier(incident, analyst, counsel, api, django_capture_on_commit_callbacks):
    upload(api(analyst), incident.reference, b"gateway export", "export.csv")
    with django_capture_on_commit_callbacks(execute=True):
        response = api(counsel).post(
            f"/api/v1/incidents/{incident.reference}/dossiers/", {}, format="json"
        )
    job = api(counsel).get(response.json()["url"]).json()
    assert job["status"] == "done", job
    return job


def test_head_on_a_dossier_pdf_answers_its_headers_and_records_nothing(
    dossier, counsel, api
):
    client = api(counsel)
    before = state()
    head = client.head(dossier["pdf_url"])
    assert head.status_code == 200 and head.content == b""
    assert state() == before
    get = client.get(dossier["pdf_url"])
    b"".join(get.streaming_content)
    for header in ("Content-Length", "Content-Type", "Content-Disposition"):
        assert head[header] == get[header], header
    assert (
        CustodyEvent.objects.filter(
            action="downloaded", evidence__kind="dossier"
        ).count()
        == 1
    )


def test_head_is_not_a_way_round_the_service_rule_on_dossiers(
    dossier, service_user, api
):
    before = state()
    assert api(service_user).head(dossier["pdf_url"]).status_code == 403
    assert state() == before
