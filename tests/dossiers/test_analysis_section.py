"""A new dossier carries the latest finished analysis: its section, its clusters and
the SHA-256 of the analysis exhibit, printed in the PDF."""

import re

import pytest
from pypdf import PdfReader

from analysis.models import Analysis
from analysis.services import analysis_request
from dossiers.models import Dossier
from evidence.services.storage import blob_chunks
from tests.analysis.conftest import RING, add_logs


@pytest.fixture(autouse=True)
def _isolated_files(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_the_dossier_prints_the_account_linkage_analysis(
    incident,
    analyst,
    counsel,
    service_user,
    api,
    django_capture_on_commit_callbacks,
    tmp_path,
):
    # given: a finished analysis of the case
    add_logs(incident, service_user)
    with django_capture_on_commit_callbacks(execute=True):
        analysis = analysis_request(incident=incident, by=analyst)
    analysis = Analysis.objects.get(pk=analysis.pk)
    assert analysis.status == "done", analysis.error
    # when: counsel requests a dossier (every section by default)
    with django_capture_on_commit_callbacks(execute=True):
        response = api(counsel).post(
            f"/api/v1/incidents/{incident.reference}/dossiers/", {}, format="json"
        )
    dossier = Dossier.objects.get(pk=response.json()["id"])
    assert dossier.status == "done", dossier.error
    assert "analysis" in dossier.sections
    # then
    path = tmp_path / "dossier.pdf"
    path.write_bytes(b"".join(blob_chunks(dossier.evidence.blob)))
    text = "\n".join(page.extract_text() for page in PdfReader(path).pages)
    squashed = re.sub(r"\s+", "", text)
    assert "Account linkage analysis" in text
    assert analysis.evidence.sha256 in squashed
    assert analysis.code_version.replace(" ", "") in squashed
    ring = next(c for c in analysis.result["clusters"] if RING[0] in c["accounts"])
    assert f"Cluster {ring['id']}" in text
    for batch in analysis.batches:
        assert batch["merkle_root"] in squashed
