"""A database administrator replaces an item's stored bytes and edits its
`evidence_evidence` row to match (that table is not append-only). The ledger's
receipt still holds the original hash: the server's check, like tools/verify.py on
the bundle, must find it, and must never write the forged hash into the ledger."""

import gzip
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from evidence.models import CustodyEvent, Evidence, QueryLogBatch
from tests.evidence.test_verification import VERIFY_PY, bundle

FORGED = b"timestamp,account\n1,acct_innocent\n"
FORGED_SHA = hashlib.sha256(FORGED).hexdigest()


def replace_stored_bytes(evidence_id: int, data: bytes, media_root) -> None:
    """What an administrator with shell access does to the stored file."""
    item = Evidence.objects.select_related("blob").get(pk=evidence_id)
    path = Path(media_root) / item.blob.storage_name
    os.chmod(path, 0o640)
    path.write_bytes(data)


def forge_row(evidence_id: int, data: bytes) -> None:
    """What an administrator with database access does to the row: raw SQL."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE evidence_evidence SET sha256 = %s, size = %s WHERE id = %s",
            [hashlib.sha256(data).hexdigest(), len(data), evidence_id],
        )


@pytest.fixture
def forged(item, settings):
    original = Evidence.objects.get(pk=item["id"]).sha256
    replace_stored_bytes(item["id"], FORGED, settings.MEDIA_ROOT)
    forge_row(item["id"], FORGED)
    return {**item, "original_sha256": original}


def test_verify_api_finds_replaced_bytes_when_the_row_was_edited_to_match(
    forged, incident, analyst, api
):
    # when
    response = api(analyst).post(f"/api/v1/incidents/{incident.reference}/verify/")
    # then
    assert response.status_code == 200
    result = response.json()
    assert result["ok"] is False
    problems = [f["problem"] for f in result["failures"] if f["evidence"] == "EX-0001"]
    assert any(
        "evidence row altered" in p and forged["original_sha256"] in p for p in problems
    ), problems
    assert any("stored file altered" in p for p in problems), problems
    incident.refresh_from_db()
    assert "evidence row altered" in incident.custody_alert


def test_the_verified_event_never_carries_the_forged_hash(
    forged, incident, analyst, api
):
    api(analyst).post(f"/api/v1/incidents/{incident.reference}/verify/")
    verified = CustodyEvent.objects.get(evidence_id=forged["id"], action="verified")
    assert verified.sha256_observed is None
    assert verified.details["item_ok"] is False
    assert verified.details["found_sha256"] == FORGED_SHA
    assert not CustodyEvent.objects.filter(sha256_observed=FORGED_SHA).exists()


def test_a_clean_item_is_verified_with_the_hash_it_was_received_with(
    item, incident, analyst, api
):
    received = CustodyEvent.objects.get(evidence_id=item["id"], action="received")
    result = api(analyst).post(f"/api/v1/incidents/{incident.reference}/verify/")
    assert result.json()["ok"] is True
    verified = CustodyEvent.objects.get(evidence_id=item["id"], action="verified")
    assert verified.sha256_observed == received.sha256_observed


def test_verify_custody_command_exits_1_and_names_the_forged_row(
    forged, incident, capsys
):
    with pytest.raises(CommandError, match="failed") as failure:
        call_command("verify_custody", incident.reference)
    assert failure.value.returncode == 1
    err = capsys.readouterr().err
    assert "FAIL EX-0001: evidence row altered" in err
    assert forged["original_sha256"] in err
    # and over all evidence, as the daily job runs it
    with pytest.raises(CommandError, match="failed"):
        call_command("verify_custody")


def test_verify_custody_command_run_as_a_process_exits_1(forged, incident):
    """The exit status an operator's script sees (call_command raises instead)."""
    from django.core.management import ManagementUtility

    with pytest.raises(SystemExit) as exit_:
        ManagementUtility(["manage.py", "verify_custody", incident.reference]).execute()
    assert exit_.value.code == 1


def test_a_forged_item_is_not_served(forged, analyst, api):
    response = api(analyst).get(forged["download_url"])
    assert response.status_code == 409
    refused = CustodyEvent.objects.get(evidence_id=forged["id"], action="downloaded")
    assert refused.details == {"served": False}


def test_the_bundle_of_a_forged_item_fails_with_verify_py_as_the_server_does(
    forged, incident, analyst, api, tmp_path
):
    path = bundle(api(analyst), incident, tmp_path)
    run = subprocess.run(
        [sys.executable, str(VERIFY_PY), str(path)], capture_output=True, text=True
    )
    assert run.returncode == 1
    assert "sha256_observed differs from the manifest" in run.stdout
    # the export did not write the forged hash into the ledger either
    exported = CustodyEvent.objects.get(evidence_id=forged["id"], action="exported")
    assert exported.sha256_observed == forged["original_sha256"]


def test_a_query_log_batch_whose_body_and_rows_were_forged_fails(
    incident, service_user, analyst, api, settings
):
    # given: a batch, then its body replaced and its item and batch rows edited
    body = b'{"timestamp": "2026-03-01T10:00:00Z", "account_id": "acct_1"}\n'
    response = api(service_user, "ingest").post(
        f"/api/v1/incidents/{incident.reference}/query-logs/",
        gzip.compress(body),
        content_type="application/x-ndjson",
        HTTP_CONTENT_ENCODING="gzip",
    )
    assert response.status_code == 201, response.content
    batch = QueryLogBatch.objects.get()
    forged_body = gzip.compress(body.replace(b"acct_1", b"acct_9"))
    replace_stored_bytes(batch.evidence_id, forged_body, settings.MEDIA_ROOT)
    forge_row(batch.evidence_id, forged_body)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE evidence_querylogbatch SET body_sha256 = %s WHERE id = %s",
            [hashlib.sha256(forged_body).hexdigest(), batch.pk],
        )
    # when
    result = api(analyst).post(f"/api/v1/incidents/{incident.reference}/verify/")
    # then
    problems = [f["problem"] for f in result.json()["failures"]]
    assert any("evidence row altered" in p for p in problems), problems
    assert any(
        f"query-log batch {batch.pk} altered: body_sha256" in p for p in problems
    ), problems


def test_a_forensic_result_row_edited_after_submission_fails(incident, analyst, api):
    # given: a recorded result, then its verdict and p-value edited in the database
    from tests.evidence.test_content_readers import submission

    posted = api(analyst).post(
        f"/api/v1/incidents/{incident.reference}/forensic-results/",
        submission([]),
        format="json",
    )
    assert posted.status_code == 201
    assert (
        api(analyst)
        .post(f"/api/v1/incidents/{incident.reference}/verify/")
        .json()["ok"]
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE evidence_forensicresult SET verdict = 'inconclusive', "
            "p_value = 0.2 WHERE id = %s",
            [posted.json()["id"]],
        )
    # when
    result = api(analyst).post(f"/api/v1/incidents/{incident.reference}/verify/")
    # then
    problems = [f["problem"] for f in result.json()["failures"]]
    assert any(
        "row altered" in p and "p_value" in p and "verdict" in p for p in problems
    ), problems
