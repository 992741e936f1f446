"""An analyst runs the account-linkage analysis in the browser, finds the planted ring
and adds its accounts as subjects."""

import re

from playwright.sync_api import Page, expect

from accounts.models import User
from analysis.models import Analysis
from incidents.models import HistoryEntry, Subject
from tests.analysis.conftest import RING, add_logs
from tests.e2e.test_incident_journey import sign_in
from tests.factories import UserFactory, make_incident


def test_analyst_runs_the_analysis_and_adds_a_cluster_as_subjects(
    page: Page, transactional_db, settings, tmp_path
):
    # given: an incident with query logs from a detector
    settings.MEDIA_ROOT = tmp_path / "media"
    alice = UserFactory(username="alice", role=User.Role.ANALYST)
    detector = UserFactory(username="detector", role=User.Role.SERVICE)
    incident = make_incident(by=alice, members=[detector])
    add_logs(incident, detector)
    sign_in(page, "alice")

    # when: open the Clusters tab and run the analysis (it runs when the request
    # commits; in tests the task is in-process)
    page.goto(f"/incidents/{incident.reference}/")
    page.get_by_role("navigation", name="Incident sections").get_by_role(
        "link", name="Clusters"
    ).click()
    expect(page.get_by_text("No analysis yet")).to_be_visible()
    page.get_by_role("button", name="Run analysis").click()

    # then: the job is listed as done and the ring is drawn and listed
    expect(page.locator(".flashes")).to_contain_text("Analysis queued")
    expect(page.locator("tr[data-analysis]").first).to_contain_text("Done")
    expect(page.locator("svg.linkage-graph")).to_be_visible()
    analysis = Analysis.objects.get()
    ring = next(c for c in analysis.result["clusters"] if RING[0] in c["accounts"])
    expect(
        page.locator(f'svg.linkage-graph [data-cluster="{ring["id"]}"]')
    ).to_be_visible()

    # when: open the ring's page from the clusters table and add its accounts
    page.locator("#clusters").get_by_role("link", name=ring["id"], exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(
        f"Cluster {ring['id']}: {len(RING)} linked accounts"
    )
    expect(page.locator("#reasons")).to_contain_text(ring["reasons"][0])
    page.get_by_role(
        "button", name=f"Add these {len(RING)} accounts as subjects"
    ).click()

    # then: reported, recorded, and the button is gone
    expect(page.locator(".flashes")).to_contain_text(
        f"Added {len(RING)} accounts as subjects."
    )
    expect(page.get_by_text(f"All {len(RING)} are subjects")).to_be_visible()
    assert set(
        Subject.objects.filter(incident=incident, kind="account").values_list(
            "value", flat=True
        )
    ) == set(RING)
    assert HistoryEntry.objects.filter(
        incident=incident, action="analysis.subjects_added"
    ).exists()

    # and the incident page lists them as subjects
    page.goto(f"/incidents/{incident.reference}/")
    expect(page.locator("#subjects")).to_contain_text(RING[0])
    expect(page).to_have_url(re.compile(incident.reference))
