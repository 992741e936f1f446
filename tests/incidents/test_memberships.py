"""Memberships: the role check and the owner rule live in the services, so every
caller (API, pages, alerts, commands) gets them."""

import pytest

from accounts.models import Membership
from config.errors import Conflict, NotAllowed
from incidents import services
from incidents.models import HistoryEntry, Incident
from tests.factories import UserFactory


def _state(incident: Incident) -> tuple:
    return (
        sorted(incident.memberships.values_list("user__username", flat=True)),
        HistoryEntry.objects.filter(incident=incident).count(),
    )


@pytest.mark.parametrize("role", ["reviewer", "service"])
def test_a_role_that_cannot_edit_cases_cannot_add_a_member_through_the_service(
    incident, role
):
    # given
    by = UserFactory(username=f"{role}-caller", role=role)
    newcomer = UserFactory(username="dave")
    before = _state(incident)
    # when / then
    with pytest.raises(NotAllowed, match=rf"Your role \({role}\) cannot change"):
        services.membership_add(incident=incident, user=newcomer, by=by)
    assert _state(incident) == before


def test_a_role_that_cannot_edit_cases_cannot_remove_a_member_through_the_service(
    incident, reviewer, counsel
):
    before = _state(incident)
    with pytest.raises(NotAllowed, match=r"Your role \(reviewer\) cannot change"):
        services.membership_remove(incident=incident, user=counsel, by=reviewer)
    assert _state(incident) == before


def test_the_new_owner_cannot_be_removed_through_an_incident_read_before_the_change(
    incident, analyst, counsel
):
    # given: a copy of the incident read while alice owned it
    stale = Incident.objects.get(pk=incident.pk)
    services.incident_update(incident=incident, by=analyst, changes={"owner": counsel})
    before = _state(incident)
    # when / then: the owner is read again under the lock, not from the old copy
    with pytest.raises(Conflict, match="carol owns"):
        services.membership_remove(incident=stale, user=counsel, by=analyst)
    assert _state(incident) == before
    assert Membership.objects.filter(incident=incident, user=counsel).exists()


def test_the_members_api_still_answers_403_to_a_reviewer_and_changes_nothing(
    incident, reviewer, counsel, api
):
    UserFactory(username="dave")
    before = _state(incident)
    base = f"/api/v1/incidents/{incident.reference}/members/"
    added = api(reviewer).post(base, {"user": "dave"}, format="json")
    removed = api(reviewer).delete(f"{base}{counsel.username}/")
    assert (added.status_code, removed.status_code) == (403, 403)
    assert added.json()["detail"] == "Your role (reviewer) cannot change incidents."
    assert _state(incident) == before
