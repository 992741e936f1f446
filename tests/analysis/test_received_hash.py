"""An analysis's `analysed` events carry each batch's received hash, never the
editable `evidence_evidence.sha256` column."""

import hashlib

from analysis.models import Analysis
from analysis.services import analysis_request
from evidence.models import CustodyEvent, QueryLogBatch
from tests.evidence.test_custody_forgery import forge_row


def test_analysing_a_batch_whose_row_was_forged_records_the_received_hash(
    logged, analyst, django_capture_on_commit_callbacks
):
    # given: one batch's evidence row edited in the database
    batch = QueryLogBatch.objects.filter(incident=logged).order_by("id").first()
    received = batch.evidence.sha256
    forge_row(batch.evidence_id, b"forged")
    # when
    with django_capture_on_commit_callbacks(execute=True):
        analysis = analysis_request(incident=logged, by=analyst)
    # then
    assert Analysis.objects.get(pk=analysis.pk).status == "done"
    event = CustodyEvent.objects.get(evidence_id=batch.evidence_id, action="analysed")
    assert event.sha256_observed == received
    forged = hashlib.sha256(b"forged").hexdigest()
    assert not CustodyEvent.objects.filter(sha256_observed=forged).exists()
