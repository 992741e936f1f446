import pytest
from django.core.files.uploadedfile import SimpleUploadedFile


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    """Each test stores evidence in its own folder."""
    settings.MEDIA_ROOT = tmp_path / "media"


def upload(
    client, reference: str, content: bytes = b"a,b\n1,2\n", name="log.csv", **fields
):
    fields.setdefault("title", "Query log export")
    return client.post(
        f"/api/v1/incidents/{reference}/evidence/",
        {"file": SimpleUploadedFile(name, content), **fields},
        format="multipart",
    )


@pytest.fixture
def item(incident, analyst, api):
    response = upload(
        api(analyst), incident.reference, b"timestamp,account\n1,acct_1\n"
    )
    assert response.status_code == 201, response.content
    return response.json()
