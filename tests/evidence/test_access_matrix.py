"""Role matrix for every evidence endpoint; a denied request changes nothing."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from evidence.models import CustodyEvent, Evidence
from incidents.models import HistoryEntry, Incident

CALLERS = [
    "anonymous",
    "outsider",
    "reviewer",
    "service_user",
    "analyst",
    "counsel",
    "admin",
]
OK = {"analyst", "counsel", "admin"}

# (method, path, body, who succeeds, success status)
ENDPOINTS = [
    (
        "get",
        "/api/v1/incidents/{ref}/evidence/",
        None,
        OK | {"reviewer", "service_user"},
        200,
    ),
    ("get", "/api/v1/evidence/{id}/", None, OK | {"reviewer", "service_user"}, 200),
    (
        "get",
        "/api/v1/evidence/{id}/custody/",
        None,
        OK | {"reviewer", "service_user"},
        200,
    ),
    (
        "get",
        "/api/v1/evidence/{id}/custody/0/",
        None,
        OK | {"reviewer", "service_user"},
        200,
    ),
    ("get", "/api/v1/evidence/{id}/download/", None, OK | {"reviewer"}, 200),
    ("get", "/api/v1/incidents/{ref}/custody-bundle/", None, OK | {"reviewer"}, 200),
    ("post", "/api/v1/incidents/{ref}/verify/", None, OK | {"reviewer"}, 200),
    (
        "post",
        "/api/v1/evidence/{id}/custody/",
        {"action": "note", "purpose": "Checked"},
        OK,
        201,
    ),
    ("post", "/api/v1/evidence/{id}/withdraw/", {"reason": "Duplicate"}, OK, 200),
    (
        "post",
        "/api/v1/incidents/{ref}/legal-hold/",
        {"action": "set", "reason": "Litigation"},
        {"counsel", "admin"},
        200,
    ),
    ("upload", "/api/v1/incidents/{ref}/evidence/", None, OK | {"service_user"}, 201),
]


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def case(incident, analyst, api):
    response = api(analyst).post(
        f"/api/v1/incidents/{incident.reference}/evidence/",
        {"file": SimpleUploadedFile("log.csv", b"a,b\n"), "title": "Log"},
        format="multipart",
    )
    return {"ref": incident.reference, "id": response.json()["id"]}


def state() -> tuple:
    return (
        Evidence.objects.count(),
        CustodyEvent.objects.count(),
        HistoryEntry.objects.count(),
        tuple(Incident.objects.values_list("is_under_legal_hold", flat=True)),
        tuple(Evidence.objects.values_list("withdrawn_at", flat=True)),
    )


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("method", "path", "body", "allowed", "success"), ENDPOINTS)
def test_evidence_endpoint(
    caller, method, path, body, allowed, success, case, request, api
):
    client = api() if caller == "anonymous" else api(request.getfixturevalue(caller))
    url = path.format(**case)
    before = state()
    if method == "upload":
        body = {"file": SimpleUploadedFile("new.txt", b"new"), "title": "New"}
        response = client.post(url, body, format="multipart")
    elif method == "post":
        response = client.post(url, body, format="json")
    else:
        response = client.get(url)
    expected = {"anonymous": 401, "outsider": 404}.get(caller) or (
        success if caller in allowed else 403
    )
    assert response.status_code == expected, response.content[:300]
    if expected >= 400:
        assert state() == before
