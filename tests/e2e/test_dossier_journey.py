"""Counsel requests a signed dossier in the browser and downloads the PDF."""

import hashlib
import io
from pathlib import Path

from django.core.management import call_command
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from accounts.models import User
from dossiers.models import Dossier
from tests.e2e.test_incident_journey import sign_in
from tests.factories import UserFactory, make_incident


def test_counsel_requests_and_downloads_a_signed_dossier(
    page: Page, transactional_db, settings, tmp_path
):
    # given
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.DOSSIER_SIGNING_KEY_PATH = tmp_path / "keys" / "signing.key"
    settings.DOSSIER_SIGNING_CERT_PATH = tmp_path / "keys" / "signing.crt"
    call_command("create_signing_identity", "--if-missing")
    carol = UserFactory(username="carol", role=User.Role.COUNSEL)
    incident = make_incident(by=carol, title="Hydra campaign <b>not bold</b>")
    sign_in(page, "carol")

    # when: request it on the Dossiers tab (tests render in-process when it commits)
    page.goto(f"/incidents/{incident.reference}/")
    page.get_by_role("link", name="Dossiers").first.click()
    page.get_by_label("Bates prefix").fill("HYDRA")
    page.get_by_label("Prepared for").fill("Outside counsel")
    page.get_by_role("button", name="Request dossier").click()

    # then: the job is listed as done with its Bates range, and the PDF downloads
    row = page.locator("tr[data-dossier]").first
    expect(row).to_contain_text("Done")
    expect(row).to_contain_text("HYDRA-000001")
    with page.expect_download() as download_info:
        row.get_by_role("link", name="Download PDF").click()
    content = Path(download_info.value.path()).read_bytes()
    dossier = Dossier.objects.get()
    assert hashlib.sha256(content).hexdigest() == dossier.sha256
    reader = PdfReader(io.BytesIO(content))
    assert len(reader.pages) == dossier.pages
    first_page = reader.pages[0].extract_text()
    assert incident.reference in first_page
    assert "<b>not bold</b>" in first_page
    assert "/Sig" in str(
        reader.trailer["/Root"]["/AcroForm"]["/Fields"][0].get_object()["/FT"]
    )
