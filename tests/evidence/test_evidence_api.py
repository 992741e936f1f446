import base64
import hashlib

import pytest

from accounts.models import User
from evidence.models import Blob, CustodyEvent, Evidence
from incidents.models import HistoryEntry
from tests.evidence.conftest import upload
from tests.factories import make_incident


def stored_counts() -> tuple:
    return Evidence.objects.count(), Blob.objects.count(), CustodyEvent.objects.count()


def test_upload_keeps_hash_size_type_and_a_received_event(incident, analyst, api):
    content = b"timestamp,account_id\n2026-11-02T03:14:00Z,acct_7f3a91c2\n"
    response = upload(
        api(analyst), incident.reference, content, "export.csv", source="gateway"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["exhibit"] == "EX-0001"
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert body["size"] == len(content)
    assert body["media_type"] == "text/csv"
    assert body["original_name"] == "export.csv"
    assert body["download_url"].endswith(f"/api/v1/evidence/{body['id']}/download/")
    events = api(analyst).get(body["custody_url"]).json()["results"]
    assert [e["action"] for e in events] == ["received"]
    assert events[0]["sha256_observed"] == body["sha256"]
    assert events[0]["prev_hash"] == "0" * 64


def test_exhibit_numbers_count_per_incident(incident, analyst, api):
    client = api(analyst)
    other = make_incident(by=analyst)
    exhibits = [
        upload(client, incident.reference, b"x%d" % i).json()["exhibit"]
        for i in range(3)
    ]
    assert exhibits == ["EX-0001", "EX-0002", "EX-0003"]
    assert upload(client, other.reference, b"y").json()["exhibit"] == "EX-0001"


def test_identical_bytes_are_stored_once(incident, analyst, api, settings):
    client = api(analyst)
    first = upload(client, incident.reference, b"same bytes").json()
    second = upload(client, incident.reference, b"same bytes").json()
    assert first["sha256"] == second["sha256"] and first["id"] != second["id"]
    assert Blob.objects.count() == 1
    stored = list((settings.MEDIA_ROOT / "evidence").rglob("*"))
    assert len([p for p in stored if p.is_file()]) == 1


def test_download_returns_exact_bytes_with_repr_digest_and_is_recorded(
    item, analyst, api
):
    response = api(analyst).get(item["download_url"])
    assert response.status_code == 200
    content = b"".join(response.streaming_content)
    assert hashlib.sha256(content).hexdigest() == item["sha256"]
    digest = base64.b64encode(bytes.fromhex(item["sha256"])).decode()
    assert response["Repr-Digest"] == f"sha-256=:{digest}:"
    assert response["Content-Type"] == "application/octet-stream"
    last = CustodyEvent.objects.filter(evidence_id=item["id"]).latest("seq")
    assert (last.action, last.actor_name, last.sha256_observed) == (
        "downloaded",
        "alice",
        item["sha256"],
    )


def test_empty_file_is_refused(incident, analyst, api):
    response = upload(api(analyst), incident.reference, b"")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "file"
    assert stored_counts() == (0, 0, 0)


def test_file_over_the_limit_answers_413_and_keeps_nothing(
    incident, analyst, api, settings
):
    settings.EVIDENCE_MAX_UPLOAD_BYTES = 1000
    response = upload(api(analyst), incident.reference, b"x" * 5000)
    assert response.status_code == 413
    assert "1000" in response.json()["detail"]
    assert stored_counts() == (0, 0, 0)
    assert (
        not list(settings.MEDIA_ROOT.rglob("*"))
        if settings.MEDIA_ROOT.exists()
        else True
    )


@pytest.mark.parametrize(
    ("name", "kept"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\evil.csv", "evil.csv"),
        ("logs/2026/export.csv", "export.csv"),
        ("bad\x00name\t.csv", "badname.csv"),
    ],
)
def test_file_names_are_metadata_only(name, kept, incident, analyst, api, settings):
    # The multipart parser keeps the last path part without control characters.
    response = upload(api(analyst), incident.reference, b"data", name)
    assert response.status_code == 201
    assert response.json()["original_name"] == kept
    # Storage names come from the hash, never from the client.
    files = [p for p in settings.MEDIA_ROOT.rglob("*") if p.is_file()]
    assert [p.name for p in files] == [response.json()["sha256"]]


def test_a_300_character_name_is_cut_to_255_keeping_its_extension(
    incident, analyst, api
):
    response = upload(api(analyst), incident.reference, b"data", "x" * 300 + ".csv")
    assert response.status_code == 201
    kept = response.json()["original_name"]
    assert len(kept) == 255 and kept.endswith(".csv")


def raw_upload(client, reference: str, filename: str, content: bytes):
    """A multipart body written by hand, so the file name reaches the server as is."""
    boundary = "casebook-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nLog\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return client.generic(
        "POST",
        f"/api/v1/incidents/{reference}/evidence/",
        body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )


@pytest.mark.parametrize("name", ["..", ".", "logs/..", "\x00\x01"])
def test_a_name_that_is_no_file_name_is_refused(name, incident, analyst, api):
    response = raw_upload(api(analyst), incident.reference, name, b"data")
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["field"] == "file"
    assert stored_counts() == (0, 0, 0)


def test_service_refuses_control_characters_and_long_names():
    from config.errors import InvalidInput
    from evidence.services.items import clean_original_name

    for hostile in ("a\x00b", "x" * 256, "..", "/"):
        with pytest.raises(InvalidInput):
            clean_original_name(hostile)
    assert clean_original_name("a/b/c.csv") == ("c.csv", "a/b/c.csv")


def test_evidence_of_another_incident_is_not_found(item, outsider, api):
    other = make_incident(by=outsider)
    client = api(outsider)
    assert client.get(item["url"]).status_code == 404
    assert client.get(item["download_url"]).status_code == 404
    assert client.get(item["custody_url"]).status_code == 404
    response = client.post(
        item["custody_url"], {"action": "note", "purpose": "probe"}, format="json"
    )
    assert response.status_code == 404
    assert (
        client.get(f"/api/v1/incidents/{other.reference}/evidence/").json()["count"]
        == 0
    )


def test_service_token_cannot_download(item, service_user, api):
    before = CustodyEvent.objects.count()
    response = api(service_user, "write").get(item["download_url"])
    assert response.status_code == 403
    assert CustodyEvent.objects.count() == before


def test_ingest_token_can_upload_but_not_read_contents(incident, service_user, api):
    client = api(service_user, "ingest")
    response = upload(client, incident.reference, b"pushed by a detector")
    assert response.status_code == 201
    assert client.get(response.json()["download_url"]).status_code == 403
    assert (
        client.get(
            f"/api/v1/incidents/{incident.reference}/custody-bundle/"
        ).status_code
        == 403
    )


def test_reviewer_cannot_upload(incident, reviewer, api):
    assert upload(api(reviewer), incident.reference).status_code == 403
    assert stored_counts() == (0, 0, 0)


def test_transfer_without_purpose_is_refused(item, analyst, api):
    before = CustodyEvent.objects.count()
    response = api(analyst).post(
        item["custody_url"],
        {"action": "transferred", "to_custodian": "lab"},
        format="json",
    )
    assert response.status_code == 400
    assert CustodyEvent.objects.count() == before


def test_transfer_records_from_and_to_custodian(item, analyst, api):
    client = api(analyst)
    client.post(
        item["custody_url"],
        {"action": "transferred", "purpose": "Imaging", "to_custodian": "forensic-lab"},
        format="json",
    )
    response = client.post(
        item["custody_url"],
        {
            "action": "transferred",
            "purpose": "Return",
            "to_custodian": "legal",
            "location": "HQ",
        },
        format="json",
    )
    assert response.status_code == 201
    event = response.json()
    assert (event["from_custodian"], event["to_custodian"], event["location"]) == (
        "forensic-lab",
        "legal",
        "HQ",
    )
    assert event["sha256_observed"] == item["sha256"]


def test_analysis_needs_a_tool_and_records_its_version(item, analyst, api):
    client = api(analyst)
    bad = client.post(
        item["custody_url"], {"action": "analysed", "purpose": "x"}, format="json"
    )
    assert bad.status_code == 400
    good = client.post(
        item["custody_url"],
        {
            "action": "analysed",
            "purpose": "Watermark test",
            "tool": "wm-detect",
            "tool_version": "2.1",
        },
        format="json",
    )
    assert (good.json()["tool"], good.json()["tool_version"]) == ("wm-detect", "2.1")


def test_system_actions_cannot_be_recorded_by_hand(item, analyst, api):
    response = api(analyst).post(
        item["custody_url"], {"action": "received", "purpose": "fake"}, format="json"
    )
    assert response.status_code == 400


def test_sealing_twice_is_a_conflict(item, analyst, api):
    client = api(analyst)
    body = {"action": "sealed", "purpose": "Sealed for court"}
    assert client.post(item["custody_url"], body, format="json").status_code == 201
    assert client.get(item["url"]).json()["sealed"] is True
    assert client.post(item["custody_url"], body, format="json").status_code == 409


def test_withdrawal_needs_a_reason_and_is_recorded(item, analyst, api):
    client = api(analyst)
    path = item["url"] + "withdraw/"
    assert client.post(path, {"reason": ""}, format="json").status_code == 400
    response = client.post(path, {"reason": "Duplicate of EX-0002"}, format="json")
    assert response.status_code == 200
    assert response.json()["withdrawn"] is True
    assert Evidence.objects.filter(pk=item["id"]).exists()  # never deleted
    last = CustodyEvent.objects.filter(evidence_id=item["id"]).latest("seq")
    assert (last.action, last.purpose) == ("withdrawn", "Duplicate of EX-0002")
    assert HistoryEntry.objects.filter(action="evidence.withdrawn").exists()
    assert client.post(path, {"reason": "again"}, format="json").status_code == 409


def test_privileged_items_are_hidden_from_reviewers(incident, analyst, reviewer, api):
    upload(
        api(analyst),
        incident.reference,
        b"memo",
        title="Counsel memo",
        privileged="true",
    )
    assert (
        api(analyst)
        .get(f"/api/v1/incidents/{incident.reference}/evidence/")
        .json()["count"]
        == 1
    )
    assert (
        api(reviewer)
        .get(f"/api/v1/incidents/{incident.reference}/evidence/")
        .json()["count"]
        == 0
    )


def test_naive_collected_at_is_refused(incident, analyst, api):
    response = upload(
        api(analyst), incident.reference, b"data", collected_at="2026-11-01T10:00:00"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "collected_at"


def test_upload_by_a_non_member_admin_role_reaches_any_incident(incident, admin, api):
    assert upload(api(admin), incident.reference).status_code == 201
    assert admin.role == User.Role.ADMIN


def test_privileged_item_title_and_hash_stay_out_of_the_history(
    incident, counsel, reviewer, api
):
    upload(
        api(counsel),
        incident.reference,
        b"memo",
        title="Settlement strategy",
        privileged="true",
    )
    history = api(reviewer).get(
        f"/api/v1/incidents/{incident.reference}/history/?page_size=100"
    )
    assert "Settlement strategy" not in history.content.decode()
    assert hashlib.sha256(b"memo").hexdigest() not in history.content.decode()
