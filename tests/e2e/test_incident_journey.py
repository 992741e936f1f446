"""Browser journeys in real headless Chromium against the live app."""

import re

from playwright.sync_api import Page, expect

from accounts.models import User
from incidents.models import HistoryEntry, Incident
from tests.factories import PASSWORD, UserFactory


def sign_in(page: Page, username: str, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_analyst_opens_and_works_an_incident(page: Page, transactional_db):
    # given
    UserFactory(username="alice", role=User.Role.ANALYST)

    # when: sign in and open an incident
    sign_in(page, "alice")
    new_incident = page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="New incident"
    )
    new_incident.click()
    page.get_by_label("Title").fill("Hydra campaign <img src=x onerror=alert(1)>")
    page.get_by_label("Kind").select_option("distillation")
    page.get_by_label("Severity").select_option("critical")
    page.get_by_label("Summary").fill("Templated prompts from 400 accounts.")
    page.get_by_role("button", name=re.compile("Open incident|Create|Save")).click()

    # then: the incident page, with the title as text (escaped)
    incident = Incident.objects.get()
    expect(page).to_have_url(re.compile(f"/incidents/{incident.reference}/"))
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Hydra campaign <img src=x onerror=alert(1)>"
    )

    # when: add a subject with a value that needs normalising
    subjects = page.locator("#subjects")
    subjects.get_by_label("Kind").select_option("ip")
    subjects.get_by_label("Value").fill("2001:DB8:0:0::7")
    subjects.get_by_role("button", name=re.compile("Add")).click()
    expect(page.locator("#subjects")).to_contain_text("2001:db8::7")

    # when: add a note
    notes = page.locator("#notes")
    notes.get_by_label(re.compile("Note|Body")).fill("Prompts follow 41 templates.")
    notes.get_by_role("button", name=re.compile("Add")).click()
    expect(page.locator("#notes")).to_contain_text("Prompts follow 41 templates.")

    # when: move it to triage, then investigating
    for target in ("Triage", "Investigating"):
        page.locator("#overview select[name=to]").select_option(label=target)
        page.locator("#overview textarea[name=reason]").fill(f"Moving to {target}")
        page.locator("#overview").get_by_role("button", name="Move").click()
        expect(page.locator(".incident-head")).to_contain_text(target)

    incident.refresh_from_db()
    assert incident.status == "investigating"
    assert (
        HistoryEntry.objects.filter(
            incident=incident, action="incident.transitioned"
        ).count()
        == 2
    )

    # then: the filtered list shows it, and another status filter does not
    page.goto("/?status=investigating")
    expect(page.get_by_role("link", name=incident.reference)).to_be_visible()
    page.goto("/?status=closed")
    expect(page.get_by_role("link", name=incident.reference)).to_have_count(0)


def test_closing_without_a_reason_is_refused_in_the_browser(
    page: Page, transactional_db
):
    from tests.factories import make_incident

    alice = UserFactory(username="alice", role=User.Role.ANALYST)
    incident = make_incident(by=alice)
    Incident.objects.filter(pk=incident.pk).update(status="triage")
    sign_in(page, "alice")
    page.goto(f"/incidents/{incident.reference}/")
    page.locator("#overview select[name=to]").select_option("closed")
    # The form asks for the reason before sending; remove that check to see the server refuse.
    page.locator("#overview textarea[name=reason]").evaluate(
        "el => el.required = false"
    )
    page.locator("#overview").get_by_role("button", name="Move").click()
    expect(page.locator(".flashes")).to_contain_text("reason")
    incident.refresh_from_db()
    assert incident.status == "triage"


def test_outsider_gets_not_found_for_a_hidden_incident(page: Page, transactional_db):
    from tests.factories import make_incident

    alice = UserFactory(username="alice", role=User.Role.ANALYST)
    UserFactory(username="mallory", role=User.Role.ANALYST)
    incident = make_incident(by=alice)
    sign_in(page, "mallory")
    response = page.goto(f"/incidents/{incident.reference}/")
    assert response.status == 404
    page.goto("/")
    expect(page.get_by_text(incident.reference)).to_have_count(0)
