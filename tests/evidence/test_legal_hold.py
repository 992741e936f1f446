from evidence.models import CustodyEvent
from incidents.models import HistoryEntry, Incident
from tests.evidence.conftest import upload


def hold(client, incident, action, reason="Litigation expected"):
    return client.post(
        f"/api/v1/incidents/{incident.reference}/legal-hold/",
        {"action": action, "reason": reason},
        format="json",
    )


def test_counsel_sets_and_releases_a_hold_recorded_for_every_item(
    incident, analyst, counsel, api
):
    for i in range(2):
        upload(api(analyst), incident.reference, b"item %d" % i)
    response = hold(api(counsel), incident, "set")
    assert response.status_code == 200
    assert response.json()["reference"] == incident.reference
    assert Incident.objects.get(pk=incident.pk).is_under_legal_hold
    assert CustodyEvent.objects.filter(action="hold_set").count() == 2
    assert hold(api(counsel), incident, "release", "Case settled").status_code == 200
    assert CustodyEvent.objects.filter(action="hold_released").count() == 2
    actions = set(HistoryEntry.objects.values_list("action", flat=True))
    assert {"incident.legal_hold_set", "incident.legal_hold_released"} <= actions


def test_analyst_cannot_set_a_hold(incident, analyst, api):
    assert hold(api(analyst), incident, "set").status_code == 403
    assert not Incident.objects.get(pk=incident.pk).is_under_legal_hold


def test_hold_needs_a_reason_and_cannot_be_set_twice(incident, counsel, api):
    assert hold(api(counsel), incident, "set", "").status_code == 400
    assert hold(api(counsel), incident, "set").status_code == 200
    assert hold(api(counsel), incident, "set").status_code == 409
    assert hold(api(counsel), incident, "hold").status_code == 400


def test_nothing_can_be_withdrawn_under_hold(item, incident, analyst, counsel, api):
    hold(api(counsel), incident, "set")
    response = api(analyst).post(
        item["url"] + "withdraw/", {"reason": "cleanup"}, format="json"
    )
    assert response.status_code == 409
    assert "legal hold" in response.json()["detail"]
    assert not CustodyEvent.objects.filter(action="withdrawn").exists()
