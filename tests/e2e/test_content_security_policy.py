"""The pages work under the Content-Security-Policy: nothing blocked in Chromium.

The `page` fixture fails any journey in which Chromium reports a CSP violation; this
one walks the main pages with real data (query-log bars, cluster swatches), the admin
and the API docs, whose Swagger UI must still render."""

from django.urls import reverse
from playwright.sync_api import Page, expect

from accounts.models import User
from analysis.services import analysis_request
from evidence.models import Evidence
from tests.analysis.conftest import add_logs
from tests.e2e.test_incident_journey import sign_in
from tests.factories import UserFactory, make_incident


def test_the_main_pages_load_with_no_csp_violation(
    page: Page, transactional_db, settings, tmp_path, django_capture_on_commit_callbacks
):
    # given a case with query logs, an analysis and evidence
    settings.MEDIA_ROOT = tmp_path / "media"
    admin = UserFactory(username="root", role=User.Role.ADMIN, is_staff=True)
    detector = UserFactory(username="detector", role=User.Role.SERVICE)
    incident = make_incident(by=admin, members=[detector])
    add_logs(incident, detector)
    with django_capture_on_commit_callbacks(execute=True):
        analysis_request(incident=incident, by=admin)
    sign_in(page, "root")
    reference = incident.reference

    # when / then: every page shows, and Chromium blocks nothing on any of them
    pages = {
        "/": "Incidents",
        f"/incidents/{reference}/": incident.title,
        reverse("evidence:list", args=[reference]): "Evidence",
        reverse("evidence:query-logs", args=[reference]): "Query logs",
        reverse("evidence:forensic-results", args=[reference]): "Forensic results",
        reverse("analysis:clusters", args=[reference]): "Clusters",
        reverse("dossiers:list", args=[reference]): "Dossiers",
        reverse("accounts:profile"): "token",
        reverse("accounts:users"): "root",
        "/django-admin/": "Site administration",
    }
    for url, text in pages.items():
        response = page.goto(url)
        assert response.status == 200, url
        assert response.headers["content-security-policy"]
        expect(page.locator("body")).to_contain_text(text)
    # the pages that draw with SVG attributes instead of style attributes
    page.goto(reverse("evidence:query-logs", args=[reference]))
    expect(page.locator("svg.share-bar rect").first).to_be_attached()
    page.goto(reverse("analysis:clusters", args=[reference]))
    expect(page.locator("svg.swatch circle").first).to_be_attached()
    assert Evidence.objects.filter(incident=incident).exists()
    assert page.csp_violations == []


def test_the_api_docs_render_under_their_policy(page: Page, transactional_db):
    # when
    response = page.goto("/api/docs/")

    # then Swagger UI has loaded the schema and drawn its operations
    assert "content-security-policy" in response.headers
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Casebook API")
    expect(page.locator(".opblock").first).to_be_visible()
    assert page.csp_violations == []


def test_the_admin_login_page_loads_with_no_csp_violation(page: Page, transactional_db):
    page.goto("/django-admin/login/")

    expect(page.get_by_label("Password")).to_be_visible()
    assert page.csp_violations == []
