"""Verification finds tampering with the ledger or the stored files, and the custody
bundle verifies with the standalone verifier run by a plain python3."""

import os
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from config import append_only
from evidence.models import Blob, Checkpoint, CustodyEvent, Evidence, LedgerHead
from evidence.services.custody import custody_record
from evidence.tasks import custody_verify_all_task
from incidents.models import HistoryEntry, Incident
from tests.evidence.conftest import upload
from tests.factories import UserFactory, make_incident

VERIFY_PY = Path(__file__).resolve().parents[2] / "tools" / "verify.py"


def verify(client, incident):
    response = client.post(f"/api/v1/incidents/{incident.reference}/verify/")
    assert response.status_code == 200
    return response.json()


def tamper_ledger(sql: str, params=()) -> None:
    """Edit the ledger as an attacker with database access would: trigger off, edit, on."""
    append_only.uninstall(connection, "evidence_custodyevent")
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
    finally:
        append_only.install(connection, "evidence_custodyevent")


def test_untouched_case_verifies_and_each_item_gets_a_verified_event(
    item, incident, analyst, api
):
    result = verify(api(analyst), incident)
    assert result == {"ok": True, "checked": 1, "failures": []}
    assert (
        CustodyEvent.objects.filter(action="verified", evidence_id=item["id"]).count()
        == 1
    )


def test_ledger_refuses_update_and_delete(item):
    from django.db import DatabaseError, transaction

    with pytest.raises(DatabaseError), transaction.atomic():
        CustodyEvent.objects.update(purpose="rewritten")
    with pytest.raises(DatabaseError), transaction.atomic():
        CustodyEvent.objects.all().delete()
    with pytest.raises(DatabaseError), transaction.atomic():
        Checkpoint.objects.all().delete()


def test_a_ledger_row_altered_in_the_database_is_named(item, incident, analyst, api):
    # given: an attacker rewrites the purpose of the received event
    seq = CustodyEvent.objects.get(evidence_id=item["id"], action="received").seq
    body = CustodyEvent.objects.get(seq=seq).body.replace(
        "Received into Casebook", "Made up"
    )
    tamper_ledger(
        "UPDATE evidence_custodyevent SET body = %s WHERE seq = %s", [body, seq]
    )
    # when
    result = verify(api(analyst), incident)
    # then
    assert result["ok"] is False
    problems = [f["problem"] for f in result["failures"] if f["evidence"] == "EX-0001"]
    assert any(f"seq {seq}" in p and "entry hash" in p for p in problems), problems
    incident.refresh_from_db()
    assert incident.custody_alert
    assert HistoryEntry.objects.filter(action="custody.verification_failed").exists()


def test_a_column_edited_without_touching_the_body_is_named(
    item, incident, analyst, api
):
    seq = CustodyEvent.objects.get(evidence_id=item["id"], action="received").seq
    tamper_ledger(
        "UPDATE evidence_custodyevent SET actor_name = 'mallory' WHERE seq = %s", [seq]
    )
    result = verify(api(analyst), incident)
    assert any("actor" in f["problem"] for f in result["failures"]), result


def test_a_deleted_ledger_row_is_found(item, incident, analyst, api):
    client = api(analyst)
    client.post(
        item["custody_url"], {"action": "note", "purpose": "look"}, format="json"
    )
    client.post(
        item["custody_url"], {"action": "note", "purpose": "again"}, format="json"
    )
    seq = CustodyEvent.objects.filter(evidence_id=item["id"], action="note").first().seq
    tamper_ledger("DELETE FROM evidence_custodyevent WHERE seq = %s", [seq])
    result = verify(client, incident)
    assert result["ok"] is False
    assert any(
        "missing" in f["problem"] or "chain" in f["problem"] for f in result["failures"]
    )


def test_a_stored_file_altered_on_disk_is_named(item, incident, analyst, api, settings):
    path = Path(settings.MEDIA_ROOT) / Blob.objects.get().storage_name
    os.chmod(path, 0o640)
    path.write_bytes(path.read_bytes().replace(b"acct_1", b"acct_2"))
    result = verify(api(analyst), incident)
    assert result["ok"] is False
    assert result["failures"][0]["evidence"] == "EX-0001"
    assert "stored file altered" in result["failures"][0]["problem"]
    # and the altered bytes are never served
    response = api(analyst).get(item["download_url"])
    assert response.status_code == 409


def test_a_missing_stored_file_is_named(item, incident, analyst, api, settings):
    (Path(settings.MEDIA_ROOT) / Blob.objects.get().storage_name).unlink()
    result = verify(api(analyst), incident)
    assert result["failures"][0]["problem"] == "stored file is missing"


def test_a_forged_checkpoint_is_found(item, incident, analyst, api):
    append_only.uninstall(connection, "evidence_checkpoint")
    try:
        Checkpoint.objects.filter(tree_size=1).update(root_hash="0" * 64)
    finally:
        append_only.install(connection, "evidence_checkpoint")
    result = verify(api(analyst), incident)
    problems = [f["problem"] for f in result["failures"]]
    assert any("checkpoint 1" in p and "signature" in p for p in problems), problems


def test_verify_custody_command_exits_non_zero_naming_failures(
    item, incident, settings, capsys
):
    call_command("verify_custody", incident.reference)
    assert "OK" in capsys.readouterr().out
    path = Path(settings.MEDIA_ROOT) / Blob.objects.get().storage_name
    os.chmod(path, 0o640)
    path.write_bytes(b"tampered")
    with pytest.raises(CommandError, match="failed"):
        call_command("verify_custody", incident.reference)
    assert "EX-0001" in capsys.readouterr().err
    with pytest.raises(CommandError, match="no incident"):
        call_command("verify_custody", "INC-1999-0001")


def test_daily_job_flags_the_incident_on_failure(item, incident, settings):
    assert custody_verify_all_task() == {incident.reference: True}
    path = Path(settings.MEDIA_ROOT) / Blob.objects.get().storage_name
    os.chmod(path, 0o640)
    path.write_bytes(b"tampered")
    assert custody_verify_all_task() == {incident.reference: False}
    assert Incident.objects.get(pk=incident.pk).custody_alert
    failed = HistoryEntry.objects.get(action="custody.verification_failed")
    assert failed.actor is None


def bundle(client, incident, tmp_path, **params) -> Path:
    response = client.get(
        f"/api/v1/incidents/{incident.reference}/custody-bundle/", params
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    path = tmp_path / "bundle.zip"
    path.write_bytes(b"".join(response.streaming_content))
    return path


def plain_python() -> list[str]:
    """A python3 outside the virtualenv, without site-packages."""
    system = shutil.which("python3", path="/usr/bin:/usr/local/bin") or sys.executable
    return [system, "-I", "-S"]


def test_bundle_verifies_with_plain_python_and_fails_when_tampered(
    incident, analyst, counsel, api, tmp_path
):
    # given: a case with several items and another incident's events in between
    client = api(analyst)
    other = make_incident(by=analyst)
    first = upload(client, incident.reference, b"first item").json()
    upload(client, other.reference, b"someone else's evidence")
    upload(client, incident.reference, b"second item", "report.pdf")
    client.post(
        first["custody_url"],
        {"action": "transferred", "purpose": "Imaging", "to_custodian": "lab"},
        format="json",
    )
    api(counsel).post(
        f"/api/v1/incidents/{incident.reference}/legal-hold/",
        {"action": "set", "reason": "Litigation"},
        format="json",
    )
    path = bundle(client, incident, tmp_path)

    # when / then: an untouched bundle verifies outside the virtualenv
    run = subprocess.run(
        [*plain_python(), str(VERIFY_PY), str(path)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "RESULT: OK" in run.stdout
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        assert archive.read("verify.py") == VERIFY_PY.read_bytes()
        ledger = archive.read("ledger.jsonl").decode()
        members = {n: archive.read(n) for n in names}
    assert {
        "manifest.json",
        "public_key.pem",
        "VERIFY.md",
        "checkpoints.jsonl",
    } <= names
    assert "someone else" not in ledger
    assert CustodyEvent.objects.filter(action="exported").count() == 2

    # when: one byte of the ledger changes
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(tampered, "w") as archive:
        for name, data in members.items():
            if name == "ledger.jsonl":
                data = data.replace(b"Imaging", b"Imagine")
            archive.writestr(name, data)
    run = subprocess.run(
        [*plain_python(), str(VERIFY_PY), str(tampered)], capture_output=True, text=True
    )
    assert run.returncode == 1
    assert "FAIL ledger" in run.stdout


def test_bundle_without_files_lists_hashes_only(item, incident, analyst, api, tmp_path):
    path = bundle(api(analyst), incident, tmp_path, files="0")
    with zipfile.ZipFile(path) as archive:
        assert not [n for n in archive.namelist() if n.startswith("files/")]
    run = subprocess.run(
        [sys.executable, str(VERIFY_PY), str(path)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout


@pytest.mark.django_db(transaction=True)
def test_sixteen_concurrent_custody_writers_make_one_consistent_log(settings, tmp_path):
    # given
    settings.MEDIA_ROOT = tmp_path / "media"
    from django.core.files.uploadedfile import SimpleUploadedFile

    from evidence.services.items import evidence_add

    analyst = UserFactory(role="analyst")
    incident = make_incident(by=analyst)
    upload_file = SimpleUploadedFile("a.txt", b"shared item")
    upload_file.sha256 = __import__("hashlib").sha256(b"shared item").hexdigest()
    upload_file.head = b"shared item"
    item = evidence_add(
        incident=incident, by=analyst, upload=upload_file, title="Shared"
    )
    writers, per_writer = 16, 5
    barrier = threading.Barrier(writers)
    errors = []

    def write(n: int) -> None:
        try:
            barrier.wait()
            for i in range(per_writer):
                custody_record(
                    evidence=Evidence.objects.get(pk=item.pk),
                    action="note",
                    by=analyst,
                    purpose=f"writer {n} note {i}",
                )
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    # when
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then
    assert errors == []
    total = 1 + writers * per_writer
    assert list(
        CustodyEvent.objects.order_by("seq").values_list("seq", flat=True)
    ) == list(range(total))
    assert LedgerHead.objects.get().size == total
    from evidence.services.verification import custody_verify

    report = custody_verify(incident=incident, by=analyst)
    assert report.ok, report.failures


def test_demo_case_bundle_verifies_with_plain_python(db, api, tmp_path, settings):
    # given: the demo case, as `make run` loads it
    settings.MEDIA_ROOT = tmp_path / "media"
    call_command("seed_demo")
    incident = Incident.objects.get(title__startswith="Hydra")
    carol = incident.memberships.get(user__username="carol").user
    assert incident.is_under_legal_hold
    actions = set(
        CustodyEvent.objects.filter(evidence__incident=incident).values_list(
            "action", flat=True
        )
    )
    assert {"received", "transferred", "analysed", "sealed", "hold_set"} <= actions
    assert incident.query_log_batches.get().rows == 20_000
    assert incident.forensic_results.count() == 2
    # when
    path = bundle(api(carol), incident, tmp_path)
    run = subprocess.run(
        [*plain_python(), str(VERIFY_PY), str(path)], capture_output=True, text=True
    )
    # then
    assert run.returncode == 0, run.stdout + run.stderr
