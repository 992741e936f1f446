"""Every custody event the server writes about an existing item carries the hash the
ledger recorded when the item was received, never the `evidence_evidence.sha256`
column, which whoever administers the database can edit: a forged row must never
put a forged hash into the ledger."""

import hashlib

import pytest
from django.core.management import call_command

from evidence.models import CustodyEvent, Evidence
from tests.evidence.test_custody_forgery import forge_row
from tests.evidence.test_forensic_results import post as post_result
from tests.evidence.test_forensic_results import result

FORGED_SHA = hashlib.sha256(b"forged").hexdigest()


@pytest.fixture(autouse=True)
def _keys(settings, tmp_path):
    settings.DOSSIER_SIGNING_KEY_PATH = tmp_path / "keys" / "signing.key"
    settings.DOSSIER_SIGNING_CERT_PATH = tmp_path / "keys" / "signing.crt"


@pytest.fixture
def forged(item):
    """The item's row says another hash; its stored bytes and ledger are intact."""
    received = Evidence.objects.get(pk=item["id"]).sha256
    forge_row(item["id"], b"forged")
    assert Evidence.objects.get(pk=item["id"]).sha256 == FORGED_SHA
    return {**item, "received_sha256": received}


def events(forged, action):
    return list(CustodyEvent.objects.filter(evidence_id=forged["id"], action=action))


def test_withdrawing_a_forged_row_records_the_received_hash(forged, analyst, api):
    response = api(analyst).post(
        f"/api/v1/evidence/{forged['id']}/withdraw/",
        {"reason": "Duplicate"},
        format="json",
    )
    assert response.status_code == 200
    [withdrawn] = events(forged, "withdrawn")
    assert withdrawn.sha256_observed == forged["received_sha256"]
    assert not CustodyEvent.objects.filter(sha256_observed=FORGED_SHA).exists()


def test_a_legal_hold_on_a_forged_row_records_the_received_hash(
    forged, incident, counsel, api
):
    api(counsel).post(
        f"/api/v1/incidents/{incident.reference}/legal-hold/",
        {"action": "set", "reason": "Litigation"},
        format="json",
    )
    [held] = events(forged, "hold_set")
    assert held.sha256_observed == forged["received_sha256"]
    assert not CustodyEvent.objects.filter(sha256_observed=FORGED_SHA).exists()


def test_a_dossier_export_of_a_forged_row_records_the_received_hash(
    forged, incident, counsel, api, django_capture_on_commit_callbacks
):
    call_command("create_signing_identity", "--if-missing")
    with django_capture_on_commit_callbacks(execute=True):
        response = api(counsel).post(
            f"/api/v1/incidents/{incident.reference}/dossiers/", {}, format="json"
        )
    assert response.status_code == 202
    [exported] = events(forged, "exported")
    assert exported.details["dossier"] == response.json()["id"]
    assert exported.sha256_observed == forged["received_sha256"]
    assert not CustodyEvent.objects.filter(sha256_observed=FORGED_SHA).exists()


def test_a_forensic_analysis_of_a_forged_row_records_the_received_hash(
    forged, incident, service_user, api
):
    response = post_result(
        api(service_user, "ingest"), incident, result(artefacts=[forged["id"]])
    )
    assert response.status_code == 201, response.content
    [analysed] = events(forged, "analysed")
    assert analysed.sha256_observed == forged["received_sha256"]
    assert not CustodyEvent.objects.filter(sha256_observed=FORGED_SHA).exists()
